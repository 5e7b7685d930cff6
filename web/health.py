"""GET /healthz, GET /readyz and GET /metrics (Prometheus text format)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from web.state import AppState, app_state


def reader_lag_s(state: AppState) -> float:
    """Return the seconds since the reader last heard from the server.

    The server sends a heartbeat every heartbeat period while it has nothing
    to send, so a healthy reader stays below about one period.
    """
    return max(0.0, time.monotonic() - state.stream.hub.stats.last_progress)


async def healthz(request: Request) -> Response:
    """Tell that the process is alive."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Tell whether the reader is connected and within the allowed lag."""
    state = app_state(request.app)
    lag = reader_lag_s(state)
    reader = state.stream.hub.reader_status
    problems = []
    if reader.get("state") != "live":
        problems.append(f"the binlog reader is {reader.get('state')}: {reader.get('message')}")
    if lag > state.settings.ready_max_lag_s:
        problems.append(
            f"the reader last heard from the server {lag:.1f} s ago, more than "
            f"{state.settings.ready_max_lag_s:.1f} s"
        )
    body = {"status": "ready" if not problems else "not ready", "reader": reader,
            "lag_s": round(lag, 3), "problems": problems}
    return JSONResponse(body, status_code=200 if not problems else 503)


async def metrics(request: Request) -> Response:
    """Return the metrics in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StreamCollector(app_state(request.app)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _StreamCollector(Collector):
    """Reads the hub's counters at scrape time, so nothing is counted twice."""

    def __init__(self, state: AppState) -> None:
        self._state = state

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        state = self._state
        hub = state.stream.hub
        read = CounterMetricFamily("rowcast_events_read", "Change events read from the binlog",
                                   labels=["table", "op"])
        for (table, operation), count in sorted(hub.stats.events_read.items()):
            read.add_metric([table, operation], count)
        yield read
        sent = CounterMetricFamily("rowcast_events_sent", "Change events sent to clients",
                                   labels=["transport"])
        for transport, count in sorted(state.sent.items()):
            sent.add_metric([transport], count)
        yield sent
        subscribers = GaugeMetricFamily("rowcast_subscribers", "Open streams",
                                        labels=["transport"])
        for transport in ("sse", "websocket"):
            subscribers.add_metric([transport], state.slots.open[transport])
        yield subscribers
        yield GaugeMetricFamily("rowcast_reader_lag_seconds",
                                "Seconds since the reader last heard from the server",
                                value=reader_lag_s(state))
        position = GaugeMetricFamily("rowcast_binlog_position",
                                     "Binlog position read so far", labels=["file"])
        position.add_metric([hub.position.file_name], hub.position.offset)
        yield position
        yield CounterMetricFamily("rowcast_slow_subscribers_dropped",
                                  "Subscribers disconnected for falling too far behind",
                                  value=hub.stats.slow_subscribers_dropped)
        yield CounterMetricFamily("rowcast_sse_stalled_streams_closed",
                                  "SSE streams closed because one write took longer than "
                                  "the send timeout",
                                  value=state.send_watch.stalled)
        yield CounterMetricFamily("rowcast_streams_refused",
                                  "Streams refused at the connection limit",
                                  value=state.slots.refused)
        yield CounterMetricFamily("rowcast_reader_reconnects",
                                  "Times the binlog reader lost its connection",
                                  value=hub.stats.reader_reconnects)
