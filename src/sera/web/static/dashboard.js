// Sera's dashboard: the session's CSRF token on every htmx request, and a form's errors (4xx)
// shown where its answer goes. Inside the Shopify admin, App Bridge's session token instead
// (a fresh one is kept: each lives a minute). Pages work without this file where they can.
"use strict";
let shopifyToken = null;
async function refreshShopifyToken() {
  if (window.shopify && window.shopify.idToken) shopifyToken = await window.shopify.idToken();
}
if (document.documentElement.querySelector('meta[name="shopify-api-key"]')) {
  refreshShopifyToken();
  setInterval(refreshShopifyToken, 30000);
}
document.addEventListener("htmx:configRequest", (event) => {
  if (shopifyToken) {
    event.detail.headers["Authorization"] = "Bearer " + shopifyToken;
    return;
  }
  const token = document.querySelector('meta[name="csrf-token"]');
  if (token) event.detail.headers["X-CSRF-Token"] = token.content;
});
if (window.htmx) {
  window.htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "4..", swap: true, error: false },
    { code: "...", swap: false, error: true },
  ];
}
document.addEventListener("htmx:responseError", () => {
  const status = document.getElementById("status");
  if (status) status.textContent = "Something went wrong: reload the page and try again.";
});
