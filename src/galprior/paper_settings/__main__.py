"""Print the paper-settings table (Markdown): ``python -m galprior.paper_settings``."""

from galprior.paper_settings import settings_markdown

print(settings_markdown(), end="")
