"""The output stage: files, figures, report and console lines.

It holds the one writer of files (``artifacts``), the figures (``plots``), the HTML and Markdown
report (``report``, with its sections in ``report_blocks`` and their rendering in
``report_render``), calibration's files (``calibration``) and the console's lines (``console``).
"""
