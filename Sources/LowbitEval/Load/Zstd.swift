import CZstd

/// zstd compression of whole buffers, behind a safe API.
enum Zstd {
    /// Compresses `bytes` into one zstd frame (with its content size) at `level`.
    static func compress(_ bytes: UnsafeRawBufferPointer, level: Int32 = 3) throws -> [UInt8] {
        let bound = ZSTD_compressBound(bytes.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            ZSTD_compress(dst.baseAddress, bound, bytes.baseAddress, bytes.count, level)
        }
        if ZSTD_isError(written) != 0 {
            throw EvalError(.io, file: "", "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
        }
        out.removeSubrange(written...)
        return out
    }

    /// Decompresses one frame that must hold exactly `size` bytes. The size the frame declares
    /// in its header is checked before anything is allocated, so a lying frame cannot make the
    /// reader allocate what it claims.
    static func decompress(_ frame: UnsafeRawBufferPointer, size: Int, file: String) throws -> [UInt8] {
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard declared == UInt64(size) else {
            throw EvalError(.badLogitFile, file: file, "a frame does not declare the \(size) bytes expected")
        }
        var out = [UInt8](repeating: 0, count: size)
        let n = out.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, size, frame.baseAddress, frame.count) }
        if ZSTD_isError(n) != 0 {
            throw EvalError(.badLogitFile, file: file, "zstd: \(String(cString: ZSTD_getErrorName(n)))")
        }
        guard n == size else {
            throw EvalError(.badLogitFile, file: file, "a frame holds \(n) bytes, expected \(size)")
        }
        return out
    }

    /// Decompresses a whole stream of one or more frames whose size need not be known.
    static func decompressStream(_ input: UnsafeRawBufferPointer, file: String, limit: Int = 1 << 32) throws -> [UInt8] {
        guard let stream = ZSTD_createDStream() else {
            throw EvalError(.io, file: file, "cannot create a zstd decompression stream")
        }
        defer { ZSTD_freeDStream(stream) }
        var result: [UInt8] = []
        let chunkSize = ZSTD_DStreamOutSize()
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var last: Int = 0
        repeat {
            let produced: Int = try buffer.withUnsafeMutableBytes { out in
                var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                let r = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                if ZSTD_isError(r) != 0 {
                    throw EvalError(.badText, file: file, "zstd: \(String(cString: ZSTD_getErrorName(r)))")
                }
                last = r
                return outBuffer.pos
            }
            result.append(contentsOf: buffer[0..<produced])
            guard result.count <= limit else {
                throw EvalError(.badText, file: file, "the decompressed text exceeds \(limit) bytes")
            }
            if produced == 0 && inBuffer.pos == inBuffer.size { break }
        } while inBuffer.pos < inBuffer.size || last != 0
        guard last == 0 else { throw EvalError(.badText, file: file, "the zstd stream is truncated") }
        return result
    }
}
