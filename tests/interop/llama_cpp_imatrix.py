"""llama.cpp's importance matrix, recomputed in Python: a llama.cpp context (llama-cpp-python's
ctypes bindings to its libllama) runs the chunks as llama-imatrix does, and a `cb_eval` callback
sees every matrix product's inputs as llama-imatrix's collector sees them. They are summed with
llama-imatrix's rules (tools/imatrix/imatrix.cpp): MUL_MAT nodes whose weight is named `blk.*`
(no --process-output), activations in F32, at least 16 rows; per weight, each input column's
squared values summed in float64 and the rows counted.

The `ggml_tensor` layout below is ggml.h's of the vendored version (GGML_MAX_DIMS 4,
GGML_MAX_OP_PARAMS 64, GGML_MAX_SRC 10, GGML_MAX_NAME 64).
"""

import ctypes
import os

import numpy as np


class GGMLTensor(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * 4),
        ("nb", ctypes.c_size_t * 4),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * 16),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * 10),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * 64),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


GGML_TYPE_F32 = 0


def collect_with_llama_cpp(llama_cpp, model_path, text_path, ctx, chunks, threads=2):
    """Returns ({weight: float64 sums of squares}, {weight: rows counted}) over `chunks` chunks
    of `ctx` tokens of the text, BOS replacing each chunk's first token where the vocabulary
    adds BOS, every logit requested."""
    ggml = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
    ggml.ggml_op_name.restype = ctypes.c_char_p
    ggml.ggml_op_name.argtypes = [ctypes.c_int]
    sums, counts = {}, {}

    def tensor(ptr):
        return ctypes.cast(ptr, ctypes.POINTER(GGMLTensor)).contents

    def callback(t_ptr, ask, _user):
        t = tensor(t_ptr)
        if ggml.ggml_op_name(t.op) != b"MUL_MAT":
            return False
        src0, src1 = tensor(t.src[0]), tensor(t.src[1])
        name = src0.name.decode()
        if not name.startswith("blk.") or src1.ne[1] < 16 or src1.type != GGML_TYPE_F32:
            return False
        if ask:
            return True
        assert src1.ne[2] == 1 and src1.ne[3] == 1 and src1.nb[0] == 4, name
        cols, rows = src1.ne[0], src1.ne[1]
        x = np.lib.stride_tricks.as_strided(
            np.ctypeslib.as_array(ctypes.cast(src1.data, ctypes.POINTER(ctypes.c_float)),
                                  shape=(src1.nb[1] // 4 * (rows - 1) + cols,)),
            shape=(rows, cols), strides=(src1.nb[1], 4)).astype(np.float64)
        sums[name] = sums.get(name, 0) + (x * x).sum(axis=0)
        counts[name] = counts.get(name, 0) + rows
        return True

    llama_cpp.llama_backend_init()
    model = llama_cpp.llama_model_load_from_file(model_path.encode(), llama_cpp.llama_model_default_params())
    vocab = llama_cpp.llama_model_get_vocab(model)
    text = open(text_path, "rb").read()
    buffer = (llama_cpp.llama_token * (len(text) + 16))()
    n = llama_cpp.llama_tokenize(vocab, text, len(text), buffer, len(buffer), True, False)
    assert n > 0
    tokens = list(buffer[:n])
    bos = llama_cpp.llama_vocab_bos(vocab) if llama_cpp.llama_vocab_get_add_bos(vocab) else None

    params = llama_cpp.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = ctx
    params.n_threads = params.n_threads_batch = threads
    keep = llama_cpp.ggml_backend_sched_eval_callback(callback)
    params.cb_eval = keep
    params.cb_eval_user_data = None
    context = llama_cpp.llama_init_from_model(model, params)
    batch = llama_cpp.llama_batch_init(ctx, 0, 1)
    try:
        for c in range(chunks):
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(context), True)
            chunk = tokens[c * ctx:(c + 1) * ctx]
            if bos is not None:
                chunk[0] = bos
            batch.n_tokens = ctx
            for i, tok in enumerate(chunk):
                batch.token[i] = tok
                batch.pos[i] = i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 1
            assert llama_cpp.llama_decode(context, batch) == 0
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(context)
        llama_cpp.llama_model_free(model)
    return sums, counts
