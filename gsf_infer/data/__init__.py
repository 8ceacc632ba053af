"""The data stage: the records format, reading and validating a table, and the numeric arrays the
model sees.

``schema`` names the kinds and their columns, ``rules`` holds the validation rules as a table,
``records`` reads and checks a file into :class:`~gsf_infer.data.records.Records`, and
``dataset`` standardises the records into the arrays of one model.
"""
