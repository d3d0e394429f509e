"""Print the documentation of every store layout (Markdown): ``python -m galprior.store``."""

from galprior.store import LAYOUTS
from galprior.store.docs import layouts_markdown

print(layouts_markdown(LAYOUTS), end="")
