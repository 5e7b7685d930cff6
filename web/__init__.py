"""The HTTP side of rowcast: REST snapshots, Server-Sent Events, WebSocket and the live page."""
