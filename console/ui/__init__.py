"""The Streamlit side of the console: the shared page frame, widgets, views and error display.

Only this package and the page files import streamlit. Modules here without ``st`` in them
(``fmt``, ``views``, ``dag``, ``charts``, ``queries``) are plain functions that tests can call directly.
"""
