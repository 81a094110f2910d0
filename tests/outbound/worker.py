"""``sera worker`` for the kill test: the same settings (from the environment), the same
``build_jobs`` and consumer, on a queue name of the test's own (argv[1]) so that runs
sharing a Redis never take each other's jobs. argv[2] is the number of job threads;
argv[3] a file created once the worker is about to consume (so the test kills it while
it works, however long a loaded machine takes to start it).

``worker_env`` is the environment such a worker (or ``sera worker``, in
``bench/outbound.py``) gets: the parent's settings, rate limits and the daily cap off."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sera.bootstrap import bootstrap
from sera.config import Settings, load_settings
from sera.jobs.wiring import build_jobs
from sera.observability import configure_logging

ROOT = Path(__file__).resolve().parents[2]


def worker_env(settings: Settings, tmp: Path, **extra: str) -> dict[str, str]:
    assert settings.master_key is not None and settings.secret_key is not None
    assert settings.twilio_auth_token is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERA_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        SERA_ENV="test",
        SERA_ENV_FILE=str(tmp / "absent.env"),
        SERA_LOG_LEVEL="WARNING",
        SERA_DATABASE_URL=settings.database_url,
        SERA_KEYSTORE_URL=settings.keystore_url,
        SERA_MASTER_KEY=settings.master_key.get_secret_value(),
        SERA_SECRET_KEY=settings.secret_key.get_secret_value(),
        SERA_PUBLIC_URL=settings.public_url,
        SERA_TWILIO_ACCOUNT_SID=settings.twilio_account_sid or "",
        SERA_TWILIO_AUTH_TOKEN=settings.twilio_auth_token.get_secret_value(),
        SERA_TWILIO_API_BASE=settings.twilio_api_base,
        SERA_JOBS_PATH=str(settings.jobs_path),
        SERA_REDIS_URL=settings.redis_url or "",
        SERA_OUTBOUND_RATE_LIMITS="false",
        SERA_OUTBOUND_DAILY_CAP="0",
        **extra,
    )
    return env


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    consumer = build_jobs(bootstrap(settings), name=sys.argv[1]).consumer(int(sys.argv[2]))
    Path(sys.argv[3]).touch()
    consumer.run()


if __name__ == "__main__":
    main()
