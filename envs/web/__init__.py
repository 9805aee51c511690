"""Web/GUI environments: Chromium through Playwright (MiniWoB++, shop, booking, mail, custom tasks)."""
