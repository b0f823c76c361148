"""Typed questions: search over the topics in every locale, and urgent symptoms first.

- :mod:`~bot.core.search.analysis` turns text into search terms (per locale: segmentation,
  spelling, stemming);
- :mod:`~bot.core.search.index` is the in-memory index of the served topics;
- :mod:`~bot.core.search.triage` finds urgent warning signs (``content/<locale>/urgent.yaml``);
- :mod:`~bot.core.search.desk` turns a typed message into the screens the bot sends;
- :mod:`~bot.core.search.counts` keeps how many messages matched, did not, or were urgent
  (never the text).

All of it is pure and rebuilt with the content on every reload.
"""
