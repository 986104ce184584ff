"""The parity suite's layer cases, one module per Keras layer family (see ``parity_tests.cases``)."""
