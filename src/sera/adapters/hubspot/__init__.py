"""HubSpot's CRM v3 API: the client Sera writes a shop's contacts, calls and meetings with."""
