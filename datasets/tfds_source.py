"""The tensorflow-datasets route, built offline from our verified files (imported lazily)."""

def load_tfds(name, manual_dir, splits):
    """Loads `splits` of tfds dataset `name` as dicts of NumPy arrays, building it from `manual_dir`."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        from datasets.files import DataError

        raise DataError(
            f"source='tfds' needs tensorflow-datasets and TensorFlow ({error}). Install them with "
            f"`pip install -r requirements.txt`, or use the default source='files'."
        ) from None
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    loaded = tfds.load(name, split=list(splits), batch_size=-1, download_and_prepare_kwargs={"download_config": config})
    return [tfds.as_numpy(split) for split in loaded]

