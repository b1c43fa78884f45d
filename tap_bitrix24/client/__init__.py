"""The Bitrix24 REST client: transport, auth, limits, errors and batch encoding."""

from tap_bitrix24.client.transport import Bitrix24Client

__all__ = ["Bitrix24Client"]
