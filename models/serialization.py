"""The package name under which this project registers its Keras serializables.

A saved `.keras` file names every custom layer it holds by this package and
the class name ("<package>>LSTM"), so the string is part of the file format:
changing it would stop the files saved so far from loading.
"""

SERIALIZATION_PACKAGE = "lstm_tf"
