"""The output stage: the one writer of files (``artifacts``), the figures (``plots``), the HTML
report (``report``) and the console's lines (``console``).
"""
