import Foundation
import Testing
@testable import LowbitEval

@Suite struct LogitStoreTests {
    /// A new empty directory for one test; the caller removes it.
    static func scratchDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-logits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func roundTripsThroughZstd() throws {
        let dir = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("base.lbl").path
        let tokens = (0..<70).map { Int32($0 % 13) }
        let plan = try ChunkPlan(tokenCount: 70, contextLength: 16, maxChunks: 3, bos: 1)
        let vocab = 20
        var chunks: [[Float]] = []
        let writer = try LogitStore.Writer(path: path, plan: plan, vocab: vocab, tokens: tokens)
        for c in 0..<3 {
            var row = (0..<(plan.scoredPerChunk * vocab)).map { Float(-($0 % 17)) * 0.731 - Float(c) }
            LogProbabilities.logSoftmax(&row, rows: plan.scoredPerChunk, vocab: vocab, threads: 1)
            chunks.append(row)
            try writer.append(logProbs: row)
        }
        try writer.finish()
        let reader = try LogitStore.Reader(path: path)
        try reader.check(plan: plan, tokens: tokens, vocab: vocab)
        #expect(reader.header.bos == 1)
        for c in 0..<3 {
            let back = try reader.next()
            for (a, b) in zip(back, chunks[c]) { #expect(abs(a - b) <= abs(b) / 1024 + 1e-6) }
        }
        // Other tokens, another context length or vocabulary are refused.
        var other = tokens
        other[5] = 12
        #expect(throws: EvalError.self) { try reader.check(plan: plan, tokens: other, vocab: vocab) }
        #expect(throws: EvalError.self) { try reader.check(plan: plan, tokens: tokens, vocab: vocab + 1) }
        let longer = try ChunkPlan(tokenCount: 70, contextLength: 16, bos: 1)
        #expect(throws: EvalError.self) { try reader.check(plan: longer, tokens: tokens, vocab: vocab) }
    }

    /// Every truncation and lying header field of a valid file gives an error, never a crash or
    /// an unbounded allocation.
    @Test func survivesHostileFiles() throws {
        let dir = try Self.scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("base.lbl").path
        let tokens = (0..<40).map { Int32($0 % 7) }
        let plan = try ChunkPlan(tokenCount: 40, contextLength: 8, maxChunks: 2, bos: nil)
        let vocab = 10
        let writer = try LogitStore.Writer(path: path, plan: plan, vocab: vocab, tokens: tokens)
        for _ in 0..<2 { try writer.append(logProbs: [Float](repeating: -2.3, count: plan.scoredPerChunk * vocab)) }
        try writer.finish()
        let valid = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))

        /// Reads every chunk of `bytes` and returns whether it was refused with an EvalError.
        func refused(_ bytes: [UInt8]) throws -> Bool {
            let mutant = dir.appendingPathComponent("mutant.lbl").path
            try Data(bytes).write(to: URL(fileURLWithPath: mutant))
            do {
                let reader = try LogitStore.Reader(path: mutant)
                for _ in 0..<reader.header.chunkCount { _ = try reader.next() }
                return false
            } catch is EvalError {
                return true
            }
        }
        func withField(_ offset: Int, _ value: UInt32) -> [UInt8] {
            var bytes = valid
            withUnsafeBytes(of: value.littleEndian) { for i in 0..<4 { bytes[offset + i] = $0[i] } }
            return bytes
        }
        #expect(try !refused(valid))
        for length in 0..<valid.count { #expect(try refused(Array(valid[0..<length])), "truncated to \(length)") }
        let vocabField = 12, ctxField = 16, chunksField = 20, rowsField = 24
        #expect(try refused(withField(chunksField, .max)))                    // chunks × ctx past the file
        #expect(try refused(withField(ctxField, .max)))                       // rows < ctx, tokens past the file
        #expect(try refused(withField(vocabField, .max)))                     // a chunk of 48 GiB
        #expect(try refused(withField(vocabField, UInt32(vocab + 1))))        // frames hold other sizes
        #expect(try refused(withField(rowsField, 2)))                         // frames hold other sizes
        // A chunk's byte count that points past the end of the file.
        var lying = valid
        let firstFrame = 40 + plan.chunkCount * plan.contextLength * 4
        for i in 0..<8 { lying[firstFrame + i] = 0xFF }
        #expect(try refused(lying))
    }

    @Test func rejectsOtherFiles() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-notlogits-\(UUID().uuidString)").path
        try Data(repeating: 7, count: 100).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: EvalError.self) { _ = try LogitStore.Reader(path: path) }
    }

    @Test func readsZstdText() throws {
        let text = "Botchan, line one.\r\nLine two — with UTF-8 ✓\n"
        let frame = try Array(text.utf8).withUnsafeBytes { try Zstd.compress($0) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-text-\(UUID().uuidString).txt.zst").path
        try Data(frame).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try TextSource.read(path: path) == text)
    }
}
