import Foundation
import LowbitFormats

/// A file of the base model's log-probabilities at the scored positions of a run, so that
/// `lowbit compare` can score a quantized model without running the base model again.
///
/// Specified byte by byte in `formats/base-logits.md`. Layout (little-endian): the magic `LBLOGP01`; eight UInt32: format version (1), vocabulary
/// size, context length, chunk count, scored rows per chunk, tokens in the text, whether a BOS
/// replaces the first token of each chunk, and that BOS id; then the text's first
/// `chunks × ctx` token ids (Int32); then per chunk a UInt64 byte count and one zstd frame.
/// A frame holds the chunk's `rows × vocab` log-softmax values as IEEE half floats, stored as
/// two byte planes (all high bytes, then all low bytes) because the high bytes of neighbouring
/// log-probabilities are alike and compress well. Half precision keeps log-probabilities near
/// 0 (the likely tokens, which dominate KL divergence) to within about 5e-4.
public enum LogitStore {
    static let magic: [UInt8] = Array("LBLOGP01".utf8)
    static let version: UInt32 = 1
    /// The largest chunk a reader accepts: 16 GiB of half floats (ctx 32768 with a 128K
    /// vocabulary needs 4 GiB), so that a lying header cannot make it allocate without bound.
    static let maximumChunkBytes = 1 << 34

    /// What a logit file says about the run it came from.
    public struct Header: Sendable, Equatable {
        /// Vocabulary size: the length of each row.
        public var vocab: Int
        /// Tokens per chunk.
        public var contextLength: Int
        /// Chunks in the file.
        public var chunkCount: Int
        /// Scored rows stored per chunk.
        public var rowsPerChunk: Int
        /// Tokens in the whole text.
        public var tokenCount: Int
        /// The BOS that replaced the first token of each chunk, if any.
        public var bos: Int32?
        /// The text's first `chunkCount × contextLength` tokens.
        public var tokens: [Int32]
    }

    /// Writes one chunk after another; ``finish()`` renames the file into place.
    public final class Writer {
        private let file: AtomicFile
        let header: Header
        private var written = 0

        /// Starts a temporary file for `path` and writes the header of a run over `plan`; `tokens`
        /// is the whole tokenized text.
        public init(path: String, plan: ChunkPlan, vocab: Int, tokens: [Int32]) throws {
            file = try AtomicFile(path: path)
            header = Header(vocab: vocab, contextLength: plan.contextLength, chunkCount: plan.chunkCount,
                            rowsPerChunk: plan.scoredPerChunk, tokenCount: plan.tokenCount, bos: plan.bos,
                            tokens: Array(tokens[0..<(plan.chunkCount * plan.contextLength)]))
            var bytes = LogitStore.magic
            for v in [LogitStore.version, UInt32(vocab), UInt32(plan.contextLength), UInt32(plan.chunkCount),
                      UInt32(plan.scoredPerChunk), UInt32(plan.tokenCount), plan.bos == nil ? 0 : 1,
                      UInt32(bitPattern: plan.bos ?? 0)] {
                withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
            }
            header.tokens.withUnsafeBytes { bytes.append(contentsOf: $0) }
            try file.write(bytes)
        }

        /// Appends the log-probabilities of the next chunk (`rowsPerChunk × vocab`).
        public func append(logProbs: [Float]) throws {
            precondition(logProbs.count == header.rowsPerChunk * header.vocab, "wrong number of log-probabilities")
            precondition(written < header.chunkCount, "more chunks than the header announced")
            let n = logProbs.count
            var planes = [UInt8](repeating: 0, count: 2 * n)
            for i in 0..<n {
                let bits = Float16(logProbs[i]).bitPattern
                planes[i] = UInt8(bits >> 8)
                planes[n + i] = UInt8(bits & 0xFF)
            }
            let frame = try planes.withUnsafeBytes { try Zstd.compress($0) }
            var size = UInt64(frame.count).littleEndian
            try withUnsafeBytes(of: &size) { try file.write($0) }
            try file.write(frame)
            written += 1
        }

        /// Checks that every chunk was written and moves the file into place.
        public func finish() throws {
            guard written == header.chunkCount else {
                throw EvalError(.io, file: file.path, "\(written) of \(header.chunkCount) chunks were written")
            }
            try file.commit()
        }
    }

    /// Reads the chunks of a logit file in order.
    public final class Reader {
        /// The file being read.
        public let path: String
        /// The run the file came from.
        public let header: Header
        private let file: MappedFile
        private var offset: Int
        private var chunk = 0

        /// Opens `path` and checks its header; a file that is not a Lowbit logit file, or lies
        /// about its sizes, is a ``EvalErrorKind/badLogitFile`` error naming it.
        public init(path: String) throws {
            self.path = path
            file = try MappedFile(path: path)
            func fail(_ reason: String) -> EvalError { EvalError(.badLogitFile, file: path, reason) }
            guard file.count >= 40 else { throw fail("the file is too short to be a Lowbit logit file") }
            let fields: [UInt32] = try file.withBytes(0..<40) { raw in
                guard Array(raw[0..<8]) == LogitStore.magic else { throw fail("not a Lowbit logit file (bad magic)") }
                return (0..<8).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8 + 4 * $0, as: UInt32.self)) }
            }
            guard fields[0] == LogitStore.version else { throw fail("unsupported logit file version \(fields[0])") }
            let vocab = Int(fields[1]), ctx = Int(fields[2]), chunks = Int(fields[3]), rows = Int(fields[4])
            guard vocab > 0, ctx > 0, chunks > 0, rows > 0, rows < ctx else { throw fail("the header is inconsistent") }
            let (tokenCount, tokenOverflow) = chunks.multipliedReportingOverflow(by: ctx)
            guard !tokenOverflow, tokenCount <= (file.count - 40) / 4 else {
                throw fail("the file is truncated in its token list (the header announces \(chunks) chunks of \(ctx))")
            }
            let tokenBytes = tokenCount * 4
            let (chunkValues, chunkOverflow) = rows.multipliedReportingOverflow(by: vocab)
            guard !chunkOverflow, chunkValues <= LogitStore.maximumChunkBytes / 2 else {
                throw fail("a chunk of \(rows) rows of \(vocab) log-probabilities is larger than Lowbit reads "
                           + "(\(LogitStore.maximumChunkBytes >> 30) GiB)")
            }
            let tokens: [Int32] = try file.withBytes(40..<(40 + tokenBytes)) { raw in
                (0..<(chunks * ctx)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            }
            header = Header(vocab: vocab, contextLength: ctx, chunkCount: chunks, rowsPerChunk: rows,
                            tokenCount: Int(fields[5]), bos: fields[6] == 0 ? nil : Int32(bitPattern: fields[7]),
                            tokens: tokens)
            offset = 40 + tokenBytes
        }

        /// Checks that the file was made for `plan` over `tokens` with a model of `vocab` logits.
        public func check(plan: ChunkPlan, tokens: [Int32], vocab: Int) throws {
            func fail(_ reason: String) -> EvalError { EvalError(.mismatch, file: path, reason) }
            guard header.vocab == vocab else { throw fail("the base logits have \(header.vocab) per position, the model has \(vocab)") }
            guard header.contextLength == plan.contextLength else {
                throw fail("the base logits were made with --ctx \(header.contextLength), not \(plan.contextLength)")
            }
            guard header.chunkCount >= plan.chunkCount else {
                throw fail("the base logits cover \(header.chunkCount) chunks, \(plan.chunkCount) are asked for")
            }
            guard header.bos == plan.bos else { throw fail("the base logits were made with a different BOS setting") }
            let n = plan.chunkCount * plan.contextLength
            guard tokens.count >= n, Array(header.tokens[0..<n]) == Array(tokens[0..<n]) else {
                throw fail("the base logits were made from a different text or tokenizer (the tokens differ)")
            }
        }

        /// The log-probabilities of the next chunk (`rowsPerChunk × vocab`).
        public func next() throws -> [Float] {
            func fail(_ reason: String) -> EvalError { EvalError(.badLogitFile, file: path, reason) }
            guard chunk < header.chunkCount else { throw fail("no more chunks") }
            guard offset + 8 <= file.count else { throw fail("the file is truncated at chunk \(chunk + 1)") }
            let declaredSize = try file.withBytes(offset..<(offset + 8)) { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            guard declaredSize > 0, declaredSize <= UInt64(file.count - offset - 8) else {
                throw fail("the file is truncated at chunk \(chunk + 1)")
            }
            let size = Int(declaredSize)
            let n = header.rowsPerChunk * header.vocab
            let planes = try file.withBytes((offset + 8)..<(offset + 8 + size)) {
                try Zstd.decompress($0, size: 2 * n, file: path)
            }
            var out = [Float](repeating: 0, count: n)
            for i in 0..<n {
                out[i] = Float(Float16(bitPattern: UInt16(planes[i]) << 8 | UInt16(planes[n + i])))
            }
            offset += 8 + size
            chunk += 1
            return out
        }
    }
}
