"""The data stage: the records format, reading and checking a table, the model's numeric arrays.

``schema`` names the kinds and their columns, ``rules`` holds the validation rules as a table,
``records`` reads and checks a file into :class:`~gsf_infer.data.records.Records`, and
``dataset`` standardises the records into the arrays of one model.
"""
