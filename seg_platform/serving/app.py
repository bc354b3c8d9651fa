"""The real-time profile service (`seg-platform serve`): an ASGI app (FastAPI, which publishes
its OpenAPI schema at /openapi.json and /docs) over the published serving snapshot.

- `POST /lookup`: a customer by any identifier, normalised as the identity layer does, with
  segment, action, scores, overlays, consent and reasons. The identifier travels in the body,
  never in a URL that access logs would keep.
- `GET /profiles/{profile_id}`: the same by profile id.
- `POST /events`: behaviour events, judged like landing rows, landed durably, intent overlays
  re-evaluated at once.

No customer value is logged: access logs are off and the service's own lines are counts.
"""

import datetime as dt
import gc
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from seg_platform.core.identifiers import IDENTIFIER_TYPES
from seg_platform.core.serving import serving_root
from seg_platform.predictions.overlays import OverlayError, load_overlays
from seg_platform.serving.events import EVENT_SOURCES, EventIntake
from seg_platform.serving.store import ID_ALIASES, INTENT, ProfileStore
from seg_platform.sources.config import SourceConfigError, SourcesConfig, load_sources_config
from seg_platform.sources.resources import IdentityConfig

log = logging.getLogger("seg_platform.serving")
POLL_SECONDS = 0.2
IdType = Literal[(*IDENTIFIER_TYPES, *ID_ALIASES, "profile_id")]  # type: ignore[valid-type]


class LookupRequest(BaseModel):
    id_type: IdType = Field(description="The identifier's type (cookie = anonymous_id).")
    value: str = Field(min_length=1, max_length=512, description="The identifier as written.")


class Overlay(BaseModel):
    family: str
    overlay: str


class Reason(BaseModel):
    rank: int
    feature: str
    customer_value: float | None
    segment_average: float | None
    reason: str


class Profile(BaseModel):
    profile_id: str
    as_of_date: str | None = Field(description="The day (or month end) the segment is as of.")
    segment_id: int | None
    segment_name: str | None
    action: str | None
    churn_probability: float | None
    purchase_probability: float | None
    predicted_value_12m: float | None
    predicted_value_percentile: float | None
    overlays: list[Overlay]
    consent: dict[str, str] = Field(description="Latest consent per channel: opt_in or opt_out.")
    reasons: list[Reason] = Field(description="Why this segment, by rank (latest month).")
    snapshot: str | None = Field(description="The serving snapshot version answered from.")


class EventsRequest(BaseModel):
    source: Literal[EVENT_SOURCES] = "web_events"  # type: ignore[valid-type]
    events: list[dict[str, str | int | float | None]] = Field(min_length=1, max_length=1000)


class EventResult(BaseModel):
    event_id: str
    status: Literal["accepted", "duplicate"]
    profile_id: str | None
    intent_overlays: list[str] | None


class EventsResponse(BaseModel):
    accepted: int
    duplicates: int
    results: list[EventResult]


def _rules(config: SourcesConfig | None):
    # The rules a run uses without launchpad settings: defaults, then the sources.yaml.
    return IdentityConfig().rules(config)


def create_app(
    home_root: Path, sources_path: Path | None, overlays_path: Path | None = None
) -> FastAPI:
    config = None
    if sources_path is not None:
        try:
            config = load_sources_config(sources_path)
        except SourceConfigError as exc:
            log.warning("events disabled: %s", str(exc).splitlines()[0])
    try:
        families = load_overlays(overlays_path)
    except OverlayError as exc:
        raise SystemExit(f"error: {exc}") from None
    intent = next((f for f in families if f.name == INTENT), None)
    store = ProfileStore(serving_root(home_root), _rules(config), intent)
    intake = EventIntake(config) if config is not None else None
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            try:
                if store.refresh():
                    gc.freeze()  # (see lifespan)
                    log.info("serving snapshot %s", store.snapshot.version)
            except Exception:  # a bad snapshot must not stop the watcher; it says so
                log.exception("could not load the serving snapshot")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The app and the snapshot loaded so far leave the collector's generations: a full
        # collection then walks only what requests create, and stays short.
        gc.freeze()
        watcher = threading.Thread(target=watch, name="snapshot-watcher", daemon=True)
        watcher.start()
        yield
        stop.set()
        watcher.join(timeout=5)

    app = FastAPI(
        title="seg_platform profile service",
        version="1",
        description="Customer profiles by any identifier, and behaviour events in.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.intake = intake

    @app.get("/health")
    async def health() -> dict:
        snap = store.snapshot
        return {
            "status": "ok"
            if snap.version
            else f"snapshot {store.refused} refused: publish it again"
            if store.refused
            else "no snapshot published yet",
            "snapshot": snap.version,
            "customers": snap.customers,
            "month": snap.manifest.get("month"),
            "loading": store.loading,
        }

    @app.post("/lookup", response_model=Profile, responses={404: {"description": "Not found"}})
    async def lookup(request: LookupRequest):
        profile_id = store.resolve(request.id_type, request.value)
        found = store.profile_json(profile_id) if profile_id else None
        if found is None:
            raise HTTPException(404, "no customer with this identifier")
        return Response(found, media_type="application/json")

    not_found = {404: {"description": "Not found"}}

    @app.get("/profiles/{profile_id}", response_model=Profile, responses=not_found)
    async def profile(profile_id: str):
        found = store.profile_json(profile_id)
        if found is None:
            raise HTTPException(404, "no customer with this profile id")
        return Response(found, media_type="application/json")

    @app.post(
        "/events",
        response_model=EventsResponse,
        responses={422: {"description": "Invalid events, with reasons"}, 503: {}},
    )
    def events(request: EventsRequest):
        if intake is None or request.source not in intake.landings:
            why = "no sources.yaml" if intake is None else intake.unavailable[request.source]
            raise HTTPException(503, f"events of {request.source} cannot be landed: {why}")
        judged = intake.judge(request.source, request.events)
        errors = [
            {"index": i, "reasons": problems} for i, (_, problems) in enumerate(judged) if problems
        ]
        if errors:
            log.info("events: %d of %d rejected", len(errors), len(judged))
            return JSONResponse(
                {"detail": "invalid events: nothing was stored", "errors": errors}, 422
            )
        fresh = intake.land(request.source, request.events)
        landing = intake.landings[request.source]
        results = []
        for (typed, _), new in zip(judged, fresh, strict=True):
            pid, overlays = None, None
            for column, id_type in sorted(
                landing.identifiers, key=lambda c: IDENTIFIER_TYPES.index(c[1])
            ):
                if typed.get(column) and (pid := store.resolve(id_type, str(typed[column]))):
                    break
            if pid and new:
                page_view = (typed.get("event_type") or "page_view") == "page_view"
                path = typed.get("page_path") if page_view else None
                overlays = store.record_event(pid, typed["event_ts"], path)
            elif pid:
                overlays = store.live_intent.get(pid)
            results.append({
                "event_id": typed["event_id"], "status": "accepted" if new else "duplicate",
                "profile_id": pid, "intent_overlays": overlays,
            })  # fmt: skip
        accepted = sum(fresh)
        log.info("events: %d accepted, %d duplicate", accepted, len(fresh) - accepted)
        return {"accepted": accepted, "duplicates": len(fresh) - accepted, "results": results}

    return app


def serve(home_root: Path, sources_path: Path | None, port: int) -> int:
    """Run the service on 127.0.0.1:`port` until stopped."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(home_root, sources_path)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    log.info("profile service on http://127.0.0.1:%d (started %s)", port, started)
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
    return 0
