"""Tokens ↔ ids for the language models: one tokenizer for words, one vocabulary class for words and characters.

    words = split_words("the cat sat\\non the mat\\n")   # ['the', 'cat', 'sat', '<eos>', 'on', 'the', 'mat', '<eos>']
    vocabulary = Vocabulary.of_words(words)            # sorted by (−count, word)
    ids = vocabulary.encode(words)

Training, evaluation and sampling all go through these, so a text is cut
into the same tokens wherever it is read.
"""

import collections

import numpy as np

EOS = "<eos>"  # the end of a line, a word of its own
UNK = "<unk>"  # every word outside the vocabulary


def line_words(text, close_last_line=True):
    """Yields `line.split() + ['<eos>']` for every line of `text`: the one word tokenizer.

    It is pytorch's word_language_model reader; on PTB, whose lines start and
    end with a space, it gives exactly TensorFlow's reader. A text that does
    not end with a line end still has its last line closed by `<eos>`, unless
    `close_last_line` is False (a prime that the model is to continue). Lines
    are cut one at a time, so a large text is never copied whole.
    """
    start, length = 0, len(text)
    while start < length:
        end = text.find("\n", start)
        if end < 0:  # the last line has no line end
            words = text[start:].split()
            yield words + [EOS] if close_last_line and words else words
            return
        yield text[start:end].split() + [EOS]
        start = end + 1


def split_words(text, close_last_line=True):
    """The words of `text` as one list (see `line_words`)."""
    return [word for words in line_words(text, close_last_line) for word in words]


class Vocabulary:
    """The tokens of a model, id i ↔ tokens[i]; `kind` is "words" or "chars".

    Saved in a run folder as vocab.json: {"type": kind, "tokens": [...]}.
    """

    def __init__(self, kind, tokens):
        if kind not in ("words", "chars"):
            raise ValueError(f"kind must be 'words' or 'chars'; got {kind!r}.")
        self.kind, self.tokens = kind, list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def of_words(cls, words, max_size=None, unk=False):
        """The words sorted by (−count, word): id 0 is the most frequent.

        Args:
            words: A list of words, or a `collections.Counter` of them.
            max_size: Keep only the most frequent words; `<unk>` takes the
                place of the last one if it is not already among them.
            unk: Make sure `<unk>` is in the vocabulary (for words of other
                texts that are not in it).
        """
        counts = words if isinstance(words, collections.Counter) else collections.Counter(words)
        tokens = [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
        if max_size is not None and len(tokens) > max_size:
            tokens = tokens[:max_size]
            unk = True
            if UNK not in tokens:
                tokens[-1] = UNK
        if unk and UNK not in tokens:
            tokens.append(UNK)
        return cls("words", tokens)

    @classmethod
    def of_chars(cls, text, chunk=1 << 22):
        """Every character of `text` (a string, or an iterable of its pieces), in sorted order.

        Read a few MB at a time, as code points: fast on 100 MB texts.
        """
        pieces = text
        if isinstance(text, str):
            pieces = (text[start:start + chunk] for start in range(0, len(text), chunk))
        codes = np.zeros(0, np.uint32)
        for piece in pieces:
            codes = np.union1d(codes, np.frombuffer(piece.encode("utf-32-le"), np.uint32))
        return cls("chars", [chr(code) for code in codes])

    @classmethod
    def from_json(cls, obj):
        return cls(obj["type"], obj["tokens"])

    def to_json(self):
        return {"type": self.kind, "tokens": self.tokens}

    def __len__(self):
        return len(self.tokens)

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and (self.kind, self.tokens) == (other.kind, other.tokens)

    @property
    def lower_case(self):
        """A word vocabulary without capitals but in one-letter placeholders (PTB's `N` for numbers).

        A word such a vocabulary lacks is looked up in lower case (`read_cased`).
        """
        return self.kind == "words" and all(t == t.lower() for t in self.tokens if len(t) > 1)

    def read_cased(self, tokens):
        """`tokens` with each word a lower-case vocabulary lacks as is, but has in lower case, lower-cased."""
        if not self.lower_case:
            return list(tokens)
        return [t if t in self.index or t.lower() not in self.index else t.lower() for t in tokens]

    def split(self, text, close_last_line=True):
        """The tokens of `text`: its characters, or `split_words(text)`."""
        return list(text) if self.kind == "chars" else split_words(text, close_last_line)

    def unknown(self, tokens):
        """The distinct tokens that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(t for t in tokens if t not in self.index))

    def encode(self, tokens):
        """Ids of `tokens`: int32 for a list; for characters, a string gives the smallest type (`id_dtype`).

        A word outside the vocabulary becomes `<unk>` when the vocabulary has
        it; any other unknown token raises ValueError naming it.
        """
        if self.kind == "chars" and isinstance(tokens, str):
            return self._encode_chars(tokens)
        unk = self.index.get(UNK)
        try:
            return np.array([self.index[t] if unk is None else self.index.get(t, unk) for t in tokens], np.int32)
        except KeyError:
            raise ValueError(self._unknown_message(tokens)) from None

    def id_dtype(self):
        """The smallest integer type that holds every id: uint8, uint16 or int32."""
        return np.uint8 if len(self) <= 256 else np.uint16 if len(self) <= 65_536 else np.int32

    def _encode_chars(self, text, chunk=1 << 22):
        """Characters → ids through a sorted table of code points, a few MB at a time (fast on 100 MB texts)."""
        codes = np.array([ord(c) for c in self.tokens], np.uint32)
        order = np.argsort(codes)
        table, ids_of = codes[order], order.astype(self.id_dtype())
        out = np.empty(len(text), self.id_dtype())
        for start in range(0, len(text), chunk):
            part = np.frombuffer(text[start:start + chunk].encode("utf-32-le"), np.uint32)
            where = np.minimum(np.searchsorted(table, part), len(table) - 1)
            if not np.array_equal(table[where], part):
                raise ValueError(self._unknown_message(text[start:start + chunk]))
            out[start:start + len(part)] = ids_of[where]
        return out

    def _unknown_message(self, tokens):
        unknown = self.unknown(tokens)
        shown = ", ".join(repr(u) for u in unknown[:20]) + (" …" if len(unknown) > 20 else "")
        return f"{len(unknown)} {'characters' if self.kind == 'chars' else 'words'} are not in the vocabulary: {shown}"

    def decode(self, ids):
        """The text of `ids`: characters joined, or words joined by spaces with `<eos>` as a line end."""
        if self.kind == "chars":
            return "".join(self.tokens[int(i)] for i in ids)
        pieces = []
        for word in (self.tokens[int(i)] for i in ids):
            if word == EOS:
                pieces.append("\n")
            else:
                pieces += [" ", word] if pieces and pieces[-1] != "\n" else [word]
        return "".join(pieces)
