import Foundation
import LowbitFormats
import Testing

/// The file Lowbit's writer produces from `fixtures/gguf/lowbit-written.json` is committed as
/// `fixtures/gguf/lowbit/written.gguf`, which tests/interop/test_gguf.py reads with gguf-py.
/// Set `LOWBIT_REGENERATE_FIXTURES=1` to rewrite the committed file.
@Suite struct GGUFInteropTests {
    static let committed = "\(GGUFFixtures.directory)/lowbit/written.gguf"

    /// Writes the specified file to `path`; returns the tensors' bytes in plan order.
    @discardableResult
    static func writeSpecified(to path: String) throws -> [[UInt8]] {
        let spec = try GGUFFixtures.json("lowbit-written.json")
        let metadata = try #require(spec["metadata"] as? [[String: Any]]).map { entry in
            (key: try #require(entry["key"] as? String), value: try GGUFFixtures.value(entry))
        }
        let tensors = try #require(spec["tensors"] as? [[String: Any]])
        let plan = try tensors.map { t in
            let typeName = try #require(t["type"] as? String)
            return PlannedTensor(name: try #require(t["name"] as? String),
                                 type: .ggml(try #require(GGMLType(name: typeName))),
                                 shape: try #require(t["shape"] as? [Int]))
        }
        let data = try tensors.map { GGUFFixtures.bytes(hex: try #require($0["hex"] as? String)) }
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: plan,
                                    alignment: try #require(spec["alignment"] as? Int))
        for bytes in data { try writer.append(bytes) }
        try writer.finish()
        return data
    }

    @Test func writerOutputEqualsCommittedFile() throws {
        if ProcessInfo.processInfo.environment["LOWBIT_REGENERATE_FIXTURES"] == "1" {
            try FileManager.default.createDirectory(atPath: "\(GGUFFixtures.directory)/lowbit",
                                                    withIntermediateDirectories: true)
            try Self.writeSpecified(to: Self.committed)
        }
        let dir = try GGUFScratchDirectory("interop")
        let path = dir.file("written.gguf")
        let data = try Self.writeSpecified(to: path)
        let written = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let committed = try Array(Data(contentsOf: URL(fileURLWithPath: Self.committed)))
        #expect(written == committed, "regenerate with LOWBIT_REGENERATE_FIXTURES=1 if the spec changed")

        let file = try GGUFFile(path: path)
        #expect(file.alignment == 64)
        #expect(file.metadataValue("general.alignment") == .uint32(64))
        for (t, bytes) in zip(file.tensors, data) {
            #expect(try file.withBytes(of: t) { Array($0) } == bytes)
        }
    }
}
