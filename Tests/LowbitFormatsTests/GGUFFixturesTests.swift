import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

/// Where the committed GGUF fixtures live, and how their sidecars read.
enum GGUFFixtures {
    static let directory = Fixtures.path("gguf")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static var validNames: [String] { (try? json("expected.json").keys.sorted()) ?? [] }
    static var hostileNames: [String] { (try? json("hostile.json").keys.sorted()) ?? [] }

    static func validPath(_ name: String) -> String { "\(directory)/valid/\(name)" }
    static func hostilePath(_ name: String) -> String { "\(directory)/hostile/\(name)" }

    /// Decodes a typed value of the sidecar (`{"type": "UINT64", "value": "..."}`).
    static func value(_ j: [String: Any]) throws -> MetadataValue {
        let type = try #require(j["type"] as? String)
        let text = j["value"] as? String ?? ""
        switch type {
        case "UINT8": return .uint8(try #require(UInt8(text)))
        case "INT8": return .int8(try #require(Int8(text)))
        case "UINT16": return .uint16(try #require(UInt16(text)))
        case "INT16": return .int16(try #require(Int16(text)))
        case "UINT32": return .uint32(try #require(UInt32(text)))
        case "INT32": return .int32(try #require(Int32(text)))
        case "UINT64": return .uint64(try #require(UInt64(text)))
        case "INT64": return .int64(try #require(Int64(text)))
        case "FLOAT32": return .float32(Float(bitPattern: try #require((j["bits"] as? NSNumber)?.uint32Value)))
        case "FLOAT64":
            let bits = try #require(j["bits"] as? String)
            return .float64(Double(bitPattern: try #require(UInt64(bits))))
        case "BOOL": return .bool(try #require(j["value"] as? Bool))
        case "STRING": return .string(try #require(j["value"] as? String))
        case "ARRAY":
            let elementName = try #require(j["element_type"] as? String)
            let elementType = try #require(GGUFValueType.allCases.first { $0.name == elementName })
            let elements = try #require(j["value"] as? [[String: Any]])
            return .array(elementType, try elements.map(value))
        default:
            Issue.record("unknown type \(type) in the sidecar")
            return .bool(false)
        }
    }

    /// Checks a tensor's name, type, shape, offset and size against a listing entry written by
    /// gguf-py (keys `name`, `type`, `shape`, `offset`, `nbytes`).
    static func expectListing(_ info: TensorInfo, _ entry: [String: Any],
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(info.name == entry["name"] as? String, sourceLocation: sourceLocation)
        #expect(info.type.name == entry["type"] as? String, "\(info.name)", sourceLocation: sourceLocation)
        #expect(info.shape == entry["shape"] as? [Int], "\(info.name)", sourceLocation: sourceLocation)
        #expect(info.offset == entry["offset"] as? Int, "\(info.name)", sourceLocation: sourceLocation)
        #expect(info.byteCount == entry["nbytes"] as? Int, "\(info.name)", sourceLocation: sourceLocation)
    }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            out.append(UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16)!)
        }
        return out
    }
}

/// A fresh temporary directory, removed when the returned object goes away.
final class GGUFScratchDirectory {
    let path: String

    init(_ label: String) throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("lowbit-gguf-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }

    /// Replaces the file at `path` with a new one holding `bytes`. (Unlinking first matters:
    /// truncating a file in place makes ext4 flush it to disk on close, milliseconds per file.)
    static func overwrite(_ path: String, with bytes: [UInt8]) throws {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
    }
}

/// Whether two metadata values are the same bits (NaN equals NaN, -0 differs from +0).
func identical(_ a: MetadataValue, _ b: MetadataValue) -> Bool {
    switch (a, b) {
    case (.float32(let x), .float32(let y)): x.bitPattern == y.bitPattern
    case (.float64(let x), .float64(let y)): x.bitPattern == y.bitPattern
    case (.array(let t, let xs), .array(let u, let ys)):
        t == u && xs.count == ys.count && zip(xs, ys).allSatisfy { identical($0, $1) }
    default: a == b
    }
}

/// Runs `body`, which must throw a FormatError; returns it.
func formatError(_ body: () throws -> Void) -> FormatError? {
    do {
        try body()
        return nil
    } catch let e as FormatError {
        return e
    } catch {
        Issue.record("not a FormatError: \(error)")
        return nil
    }
}

@Suite struct GGUFFixturesTests {
    @Test func sidecarsListFixtures() throws {
        #expect(GGUFFixtures.validNames.count >= 5)
        #expect(GGUFFixtures.hostileNames.count >= 40)
    }

    @Test(arguments: GGUFFixtures.validNames)
    func validFixtureReadsExactly(_ name: String) throws {
        let expected = try #require(try GGUFFixtures.json("expected.json")[name] as? [String: Any])
        let file = try GGUFFile(path: GGUFFixtures.validPath(name))
        #expect(file.format == .gguf)
        #expect(Int(file.version) == expected["version"] as? Int)
        #expect(file.alignment == expected["alignment"] as? Int)
        #expect(file.dataOffset == expected["data_offset"] as? Int)

        let metadata = try #require(expected["metadata"] as? [[String: Any]])
        #expect(file.metadata.map(\.key) == metadata.map { $0["key"] as? String ?? "" })
        for (entry, (key, value)) in zip(metadata, file.metadata) {
            let want = try GGUFFixtures.value(entry)
            #expect(identical(value, want), "\(name): \(key) is \(value), expected \(want)")
        }

        let tensors = try #require(expected["tensors"] as? [[String: Any]])
        #expect(file.tensors.count == tensors.count)
        for (t, info) in zip(tensors, file.tensors) {
            GGUFFixtures.expectListing(info, t)
            #expect(info.file == file.path)
            let want = GGUFFixtures.bytes(hex: try #require(t["hex"] as? String))
            let got = try file.withBytes(of: info) { Array($0) }
            #expect(got == want, "\(name): bytes of \(info.name)")
            file.release(info)
        }
    }

    @Test func floatTensorValuesIncludingNonFinite() throws {
        let file = try GGUFFile(path: GGUFFixtures.validPath("all_types.gguf"))
        let t = try #require(file.tensor(named: "plain.f32"))
        let values = try file.withBytes(of: t) { raw in
            (0..<t.elementCount).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        #expect(values.count == 192)
        #expect(values[0].isNaN)
        #expect(values[1] == .infinity)
        #expect(values[2] == -.infinity)
        #expect(values[3...].allSatisfy { $0.isFinite })
    }

    @Test func typedAccessorsAndLayoutOfUndecodableTypes() throws {
        let file = try GGUFFile(path: GGUFFixtures.validPath("all_types.gguf"))
        #expect(file.metadataValue("general.architecture")?.stringValue == "llama")
        #expect(file.metadataValue("test.u64.max") == .uint64(.max))
        #expect(file.metadataValue("test.array.nested.i32")?.arrayValue?.count == 3)
        // Types Lowbit cannot decode yet still have their layout checked.
        let q6 = try #require(file.tensor(named: "layout.q6_k"))
        #expect(q6.type == .ggml(.q6_K))
        #expect(q6.byteCount == 210)
        #expect(q6.rowLength == 256)
    }

    @Test(arguments: GGUFFixtures.hostileNames)
    func hostileFixtureIsRefused(_ name: String) throws {
        let expected = try #require(try GGUFFixtures.json("hostile.json")[name] as? [String: Any])
        let path = GGUFFixtures.hostilePath(name)
        let error = try #require(formatError { _ = try GGUFFile(path: path) }, "\(name) was accepted")
        #expect(error.kind.rawValue == expected["kind"] as? String, "\(name): \(error)")
        if expected.keys.contains("item") {
            #expect(error.item == expected["item"] as? String, "\(name): \(error)")
        }
        #expect(error.file == path)
        #expect(!error.reason.isEmpty)
    }

    /// Every prefix of a valid file is refused (truncated) until the last tensor's data is whole.
    @Test(arguments: ["small.gguf", "v2.gguf", "alignment_256.gguf"])
    func everyTruncationIsRefused(_ name: String) throws {
        let full = try Array(Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.validPath(name))))
        let reference = try GGUFFile(path: GGUFFixtures.validPath(name))
        let dataEnd = reference.tensors.map { $0.offset + $0.byteCount }.max() ?? full.count
        let dir = try GGUFScratchDirectory("truncated")
        let path = dir.file(name)
        for cut in 0..<full.count {
            try GGUFScratchDirectory.overwrite(path, with: Array(full[..<cut]))
            if cut >= dataEnd {
                let file = try GGUFFile(path: path)
                #expect(file.tensors == reference.tensors.map { var t = $0; t.file = path; return t })
                continue
            }
            let error = try #require(formatError { _ = try GGUFFile(path: path) }, "cut at \(cut) accepted")
            let allowed: Set<FormatError.Kind> = cut < reference.dataOffset ? [.truncated] : [.truncated, .badOffset]
            #expect(allowed.contains(error.kind), "cut at \(cut): \(error)")
        }
    }

    /// An array larger than the metadata value budget is refused before anything is allocated.
    @Test func metadataValueBudget() throws {
        var bytes: [UInt8] = Array("GGUF".utf8)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        put(UInt32(3)); put(UInt64(0)); put(UInt64(1))
        put(UInt64(3)); bytes.append(contentsOf: Array("big".utf8))
        put(GGUFValueType.array.rawValue); put(GGUFValueType.uint8.rawValue)
        let count = GGUFFormat.maxMetadataValues + 1
        put(UInt64(count))
        bytes += [UInt8](repeating: 0, count: count)
        let dir = try GGUFScratchDirectory("budget")
        let path = dir.file("big.gguf")
        try GGUFScratchDirectory.overwrite(path, with: bytes)
        let error = try #require(formatError { _ = try GGUFFile(path: path) })
        #expect(error.kind == .limitExceeded)
        #expect(error.item == "big")
    }

    @Test func missingFileAndDirectory() throws {
        let e1 = try #require(formatError { _ = try GGUFFile(path: "/nonexistent/x.gguf") })
        #expect(e1.kind == .io)
        let e2 = try #require(formatError { _ = try GGUFFile(path: GGUFFixtures.directory) })
        #expect(e2.kind == .io)
    }
}
