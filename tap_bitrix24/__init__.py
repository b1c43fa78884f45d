"""Singer tap for Bitrix24 CRM activities."""
