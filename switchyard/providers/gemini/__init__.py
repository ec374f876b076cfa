"""Google Gemini API (``provider: gemini``): a package because request, response and schema translation
each need their own module."""

from switchyard.providers.gemini.provider import GeminiProvider

__all__ = ["GeminiProvider"]
