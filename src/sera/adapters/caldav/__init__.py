"""CalDAV: staff members' own calendars (Google, iCloud, Fastmail, Nextcloud, Zoho, Radicale).

The wire goes through the ``caldav`` package, which brings its own HTTP stack (requests)
rather than ``sera.adapters.http.HttpClient``: CalDAV is WebDAV (PROPFIND,
REPORT, PUT with ETags, discovery, digest auth, many servers' quirks), which that package
handles and which a JSON client would have to re-implement. Every client made here has a
timeout; retries are the job queue's, as for every other provider. (caldav 1.x, on requests:
2.x depends on niquests, whose urllib3-future replaces the urllib3 that requests and twilio use.)
"""
