"""Headless Chromium (Debian's) through Playwright, cut off from every host but the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from playwright.async_api import Browser, Page, Route, async_playwright

CHROMIUM = "/usr/bin/chromium"


@dataclass
class Offline:
    """A page that may reach only `origin`, and what it tried and complained about."""

    page: Page
    origin: str
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def csp_violations(self) -> list[str]:
        return [text for text in self.console_errors if "Content Security Policy" in text]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """The system Chromium, headless (Playwright's own browser builds are not used)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def offline_page(browser: Browser, origin: str) -> AsyncIterator[Offline]:
    """A fresh page whose requests to anything but `origin` are aborted and recorded."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    offline = Offline(page, origin)

    async def only_the_service(route: Route) -> None:
        if route.request.url.startswith(f"{origin}/"):
            await route.continue_()
        else:
            offline.blocked.append(route.request.url)
            await route.abort("blockedbyclient")

    await context.route("**/*", only_the_service)
    page.on(
        "console", lambda m: offline.console_errors.append(m.text) if m.type == "error" else None
    )
    page.on("pageerror", lambda error: offline.page_errors.append(str(error)))
    try:
        yield offline
    finally:
        await context.close()
