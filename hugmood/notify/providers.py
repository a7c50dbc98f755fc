"""The providers this process can push through, from its settings. A platform without
credentials is skipped: one log line at start-up, and its pushes counted as
`hugmood_push_skipped_total{reason="no_provider"}`, never a crash."""

from __future__ import annotations

import logging

from hugmood.core.settings import Settings
from hugmood.notify import apns, fcm
from hugmood.notify.provider import Provider

log = logging.getLogger("hugmood.push")


async def open_providers(settings: Settings) -> dict[str, Provider]:
    """Providers by devices.platform (`apns`, `fcm`), each ready to send."""
    providers: dict[str, Provider] = {}
    if apns.configured(settings):
        providers["apns"] = apns.ApnsProvider(settings)
    else:
        log.warning(
            "APNs not configured: iOS pushes are skipped "
            "(set APNS_KEY or APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC)"
        )
    if fcm.configured(settings):
        provider = fcm.FcmProvider(settings)
        await provider.start()
        providers["fcm"] = provider
    else:
        log.warning(
            "FCM not configured: Android pushes are skipped "
            "(set FCM_CREDENTIALS or FCM_CREDENTIALS_FILE)"
        )
    return providers


async def close_providers(providers: dict[str, Provider]) -> None:
    for provider in providers.values():
        await provider.close()
