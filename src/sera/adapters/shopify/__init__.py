"""Shopify: the app install (OAuth), the embedded app's session tokens, webhooks, and the
Admin GraphQL API (live orders). Capabilities never see Shopify's wire format: this
package translates it at the edge."""
