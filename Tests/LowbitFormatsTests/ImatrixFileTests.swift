import Foundation
import LowbitFormats
import Testing

/// The committed imatrix fixtures (fixtures/imatrix/make_fixtures.py): GGUF files written by
/// gguf-py, legacy files assembled with `struct`, hostile files derived from both.
enum ImatrixFixtures {
    static let directory: String = {
        var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("fixtures/imatrix").path
    }()

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static var validNames: [String] { (try? json("expected.json").keys.sorted()) ?? [] }
    static var hostileNames: [String] { (try? json("hostile.json").keys.sorted()) ?? [] }

    static func floats(_ any: Any?) throws -> [Float] {
        try #require(any as? [NSNumber]).map { Float($0.doubleValue) }
    }
}

/// A small matrix with a dense entry, an expert entry with an unused expert, and metadata.
func sampleImportanceMatrix() -> ImportanceMatrix {
    var state: UInt64 = 7
    func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24) * 100
    }
    return ImportanceMatrix(
        entries: [
            "blk.0.attn_k.weight": .init(columns: 6, sumsOfSquares: (0..<6).map { _ in next() }, counts: [1536]),
            "blk.0.ffn_up_exps.weight": .init(columns: 3, sumsOfSquares: (0..<3).map { _ in next() } + [0, 0, 0],
                                              counts: [700, 0]),
        ],
        datasets: ["first.txt", "botchan.txt"], chunkCount: 3, chunkSize: 512)
}

@Suite struct ImatrixFileTests {
    @Test(arguments: ImatrixFixtures.validNames)
    func readsValidFile(_ name: String) throws {
        let spec = try #require(try ImatrixFixtures.json("expected.json")[name] as? [String: Any])
        let matrix = try ImportanceMatrix(contentsOf: "\(ImatrixFixtures.directory)/valid/\(name)")
        #expect(matrix.datasets == spec["datasets"] as? [String])
        #expect(matrix.chunkCount == spec["chunk_count"] as? Int)
        #expect(matrix.chunkSize == spec["chunk_size"] as? Int)
        let entries = try #require(spec["entries"] as? [String: [String: Any]])
        #expect(Set(matrix.entries.keys) == Set(entries.keys))
        for (key, e) in entries {
            let entry = try #require(matrix.entries[key])
            #expect(entry.columns == e["columns"] as? Int, "\(key)")
            #expect(entry.sumsOfSquares == (try ImatrixFixtures.floats(e["sums"])), "\(key)")
            #expect(entry.counts == (try ImatrixFixtures.floats(e["counts"])), "\(key)")
            let importance = try #require(e["importance"] as? [Any])
            #expect(importance.count == entry.matrices)
            for (m, row) in importance.enumerated() {
                #expect(entry.importance(matrix: m) == (try ImatrixFixtures.floats(row)), "\(key) matrix \(m)")
            }
        }
    }

    @Test(arguments: ImatrixFixtures.hostileNames)
    func refusesHostileFile(_ name: String) throws {
        let spec = try #require(try ImatrixFixtures.json("hostile.json")[name] as? [String: Any])
        let path = "\(ImatrixFixtures.directory)/hostile/\(name)"
        do {
            let m = try ImportanceMatrix(contentsOf: path)
            Issue.record("\(name) was accepted with \(m.entries.count) entries; expected: \(spec["why"] ?? "")")
        } catch let error as FormatError {
            #expect(error.kind.rawValue == spec["kind"] as? String, "\(name): \(error)")
            #expect(error.file == path, "\(name): \(error)")
            #expect(error.item == spec["item"] as? String, "\(name): \(error)")
        }
    }

    @Test(arguments: ImportanceMatrix.FileFormat.allCases)
    func roundTrips(_ format: ImportanceMatrix.FileFormat) throws {
        let dir = try GGUFScratchDirectory("imatrix")
        let original = sampleImportanceMatrix()
        let path = dir.file("out.\(format.rawValue)")
        try original.write(to: path, format: format)
        let read = try ImportanceMatrix(contentsOf: path)
        #expect(dir.contents == ["out.\(format.rawValue)"], "no temporary file is left behind")
        switch format {
        case .gguf:
            #expect(read == original)
        case .dat:
            // The legacy layout keeps each weight's mean times ncall (its chunk count) and the
            // last dataset; importance is what survives, and writing it again changes nothing.
            #expect(read.chunkCount == 3 && read.chunkSize == 0 && read.datasets == ["botchan.txt"])
            let dense = try #require(read.entries["blk.0.attn_k.weight"])
            #expect(dense.counts == [3])
            let want = original.entries["blk.0.attn_k.weight"]!.importance(matrix: 0)
            for (a, b) in zip(dense.importance(matrix: 0), want) { #expect(abs(a - b) <= 1e-6 * b) }
            let experts = try #require(read.entries["blk.0.ffn_up_exps.weight"])
            #expect(experts.counts == [2] && experts.columns == 6)
            #expect(Array(experts.importance(matrix: 0).suffix(3)) == [1, 1, 1], "an unused expert weighs 1")
            let again = dir.file("again.dat")
            try read.write(to: again, format: .dat)
            #expect(try Data(contentsOf: URL(fileURLWithPath: again)) == Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    @Test func formatIsSniffedFromContentNotName() throws {
        let dir = try GGUFScratchDirectory("imatrix-sniff")
        let m = sampleImportanceMatrix()
        try m.write(to: dir.file("looks-legacy.dat"), format: .gguf)
        try m.write(to: dir.file("looks-gguf.gguf"), format: .dat)
        #expect(try ImportanceMatrix(contentsOf: dir.file("looks-legacy.dat")) == m)
        #expect(try ImportanceMatrix(contentsOf: dir.file("looks-gguf.gguf")).chunkSize == 0)
    }

    @Test func refusesToWriteNonFiniteValuesAndLeavesNothing() throws {
        let dir = try GGUFScratchDirectory("imatrix-bad")
        var m = sampleImportanceMatrix()
        m.entries["blk.0.attn_k.weight"]!.sumsOfSquares[2] = .nan
        for format in ImportanceMatrix.FileFormat.allCases {
            #expect(throws: FormatError.self) { try m.write(to: dir.file("x"), format: format) }
        }
        #expect(dir.contents.isEmpty)
    }

    /// Every cut of a valid file is refused with an error naming the file, never a crash.
    @Test func everyTruncationIsRefused() throws {
        let dir = try GGUFScratchDirectory("imatrix-cut")
        for format in ImportanceMatrix.FileFormat.allCases {
            let full = dir.file("full")
            try sampleImportanceMatrix().write(to: full, format: format)
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: full)))
            let path = dir.file("cut")
            // A legacy file cut exactly before its optional trailer is valid, and so is a GGUF
            // file that lacks the padding after its last tensor's data.
            let trailer = 4 + 4 + "botchan.txt".utf8.count
            let end = format == .gguf ? try GGUFFile(path: full).tensors.map { $0.offset + $0.byteCount }.max()! : bytes.count
            for cut in 0..<end where !(format == .dat && cut == bytes.count - trailer) {
                try GGUFScratchDirectory.overwrite(path, with: Array(bytes[..<cut]))
                do {
                    _ = try ImportanceMatrix(contentsOf: path)
                    Issue.record("\(format) cut at \(cut) of \(bytes.count) bytes was accepted")
                } catch let error as FormatError {
                    #expect(error.file == path)
                }
            }
        }
    }
}
