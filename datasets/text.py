"""Reading a user's text file: UTF-8, with a clear error for anything else."""

import codecs
import os
import stat

from datasets.files import DataError


def check_regular_file(path, what="text file"):
    """A clear DataError unless `path` is a regular file (reading a device or a pipe would never end or block)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if not os.path.lexists(path):
            raise DataError(f"the {what} {path} does not exist; check the path.") from None
        raise DataError(f"cannot read the {what} {path}: {error.strerror}.") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"the {what} {path} is a folder; give the path of the {what} itself.")
    if not stat.S_ISREG(mode):  # a device (/dev/zero never ends), a FIFO (blocks), a socket
        raise DataError(f"the {what} {path} is not a regular file (a device, pipe or socket); give the {what} itself.")


def check_not_binary(piece, start, path, what):
    """A clear DataError if `piece` (the bytes of `path` from offset `start`) holds a zero byte: binary, not text."""
    zero = piece.find(b"\x00")
    if zero >= 0:
        raise DataError(f"the {what} {path} is a binary file, not text (a zero byte at offset {start + zero:,}); "
                        f"give a UTF-8 text file.")


def read_bytes(path, what="text file"):
    """The bytes of `path`; a clear error if it is missing, not a regular file, or binary from its first MB on."""
    check_regular_file(path, what)
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
            check_not_binary(head, 0, path, what)  # before reading the rest: a large binary file is refused at once
            data = head + f.read()
    except OSError as error:
        raise DataError(f"cannot read the {what} {path}: {error.strerror}.") from None
    return data


def decoded_pieces(data, path, what="text file", size=1 << 20):
    """Yields the text of UTF-8 `data` a MB at a time, line ends as "\\n" (a large file is never decoded whole).

    Raises:
        DataError: the data is binary (a zero byte) or not UTF-8; the message names the byte offset.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    held = ""  # a "\r" that ends a piece: its "\n" may start the next one
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        check_not_binary(piece, start, path, what)
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous piece
        try:
            text = held + decoder.decode(piece, final=start + size >= len(data))
        except UnicodeDecodeError as error:
            offset = start - pending + error.start
            raise DataError(f"the {what} {path} is not UTF-8 text: the byte 0x{data[offset]:02x} at offset "
                            f"{offset:,} cannot be decoded. Convert the file to UTF-8, for example with "
                            f"`iconv -f latin1 -t utf-8 {path} > converted.txt`.") from None
        if start == 0 and text.startswith("\ufeff"):  # a byte-order mark is not text
            text = text[1:]
        held = "\r" if text.endswith("\r") and start + size < len(data) else ""
        yield (text[:-1] if held else text).replace("\r\n", "\n").replace("\r", "\n")


def read_text(path, what="text file"):
    """The text of a UTF-8 file, line ends as "\\n"; a clear DataError for anything else (see `decoded_pieces`)."""
    data = read_bytes(path, what)
    return "".join(decoded_pieces(data, path, what))
