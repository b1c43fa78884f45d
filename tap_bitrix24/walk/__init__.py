"""Walking a Bitrix24 list: keyset chains over ID ranges, and the offset paginator."""
