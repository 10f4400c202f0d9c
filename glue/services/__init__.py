"""Services in the AMSDAL Glue style: data, schema, transactions and locks."""
