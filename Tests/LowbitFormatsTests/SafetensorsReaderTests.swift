import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

/// Paths and expectations of the committed safetensors fixtures (fixtures/safetensors/,
/// written by make_fixtures.py with the `safetensors` package, numpy and ml_dtypes).
enum SafetensorsFixtures {
    static let root = Fixtures.path("safetensors")

    static func path(_ relative: String) -> String { root + "/" + relative }

    static func json(_ relative: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        return try data.withUnsafeBytes { try JSONValue.parse($0) }
    }

    static let expected: JSONValue = try! json("expected.json")
    static let manifest: JSONValue = try! json("hostile/manifest.json")

    static var validFiles: [String] { expected.objectValue!.map(\.key) }
    static var hostileCases: [String] { manifest.objectValue!.map(\.key) }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(relative))))
    }
}

/// Independent element decoders for checking values (exact, in Double).
enum ReferenceDecode {
    static func f8e4m3(_ b: UInt8) -> Double {
        let sign: Double = b & 0x80 != 0 ? -1 : 1
        let e = Int(b >> 3 & 0xF), m = Int(b & 7)
        if e == 15 && m == 7 { return .nan }
        if e == 0 { return sign * Double(m) / 8 * pow(2.0, -6) }
        return sign * (1 + Double(m) / 8) * pow(2.0, Double(e - 7))
    }

    static func f8e5m2(_ b: UInt8) -> Double { Double(Float16(bitPattern: UInt16(b) << 8)) }

    static func f8e8m0(_ b: UInt8) -> Double { b == 0xFF ? .nan : pow(2.0, Double(Int(b) - 127)) }

    /// The FNUZ variants: exponent bias one larger, no infinities, no negative zero, 0x80 is NaN.
    static func f8fnuz(_ b: UInt8, exponentBits: Int, bias: Int) -> Double {
        if b == 0x80 { return .nan }
        let mantissaBits = 7 - exponentBits
        let sign: Double = b & 0x80 != 0 ? -1 : 1
        let e = Int(b >> mantissaBits) & ((1 << exponentBits) - 1)
        let m = Double(Int(b) & ((1 << mantissaBits) - 1)) / Double(1 << mantissaBits)
        if e == 0 { return sign * m * pow(2.0, Double(1 - bias)) }
        return sign * (1 + m) * pow(2.0, Double(e - bias))
    }

    /// Decodes every element of `bytes` as `dtype` into Doubles (integers exactly), or nil for
    /// dtypes without a scalar meaning (C64, F4, F6).
    static func values(_ bytes: UnsafeRawBufferPointer, _ dtype: SafetensorsDType) -> [JSONValue]? {
        func load<T>(_ type: T.Type) -> [T] {
            let n = bytes.count / MemoryLayout<T>.size
            return (0..<n).map { bytes.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
        }
        func floats(_ d: [Double]) -> [JSONValue] { d.map { .number($0) } }
        switch dtype {
        case .BOOL: return load(UInt8.self).map { .bool($0 != 0) }
        case .U8: return load(UInt8.self).map { .integer(Int64($0)) }
        case .I8: return load(Int8.self).map { .integer(Int64($0)) }
        case .U16: return load(UInt16.self).map { .integer(Int64($0)) }
        case .I16: return load(Int16.self).map { .integer(Int64($0)) }
        case .U32: return load(UInt32.self).map { .integer(Int64($0)) }
        case .I32: return load(Int32.self).map { .integer(Int64($0)) }
        case .I64: return load(Int64.self).map { .integer($0) }
        case .U64: return load(UInt64.self).map { $0 > UInt64(Int64.max) ? .unsignedInteger($0) : .integer(Int64($0)) }
        case .F16: return floats(load(UInt16.self).map { Double(Float16(bitPattern: $0)) })
        case .BF16: return floats(load(UInt16.self).map { Double(Float(bitPattern: UInt32($0) << 16)) })
        case .F32: return floats(load(Float.self).map(Double.init))
        case .F64: return floats(load(Double.self))
        case .F8_E4M3: return floats(load(UInt8.self).map(f8e4m3))
        case .F8_E5M2: return floats(load(UInt8.self).map(f8e5m2))
        case .F8_E8M0: return floats(load(UInt8.self).map(f8e8m0))
        case .F8_E4M3FNUZ: return floats(load(UInt8.self).map { f8fnuz($0, exponentBits: 4, bias: 8) })
        case .F8_E5M2FNUZ: return floats(load(UInt8.self).map { f8fnuz($0, exponentBits: 5, bias: 16) })
        case .C64, .F4, .F6_E2M3, .F6_E3M2: return nil
        }
    }

    /// Whether a decoded value equals the value Python stored (NaN, infinities spelled as strings).
    static func matches(_ actual: JSONValue, _ expected: JSONValue) -> Bool {
        switch (actual, expected) {
        case (.number(let a), .string("nan")): return a.isNaN
        case (.number(let a), .string("inf")): return a == .infinity
        case (.number(let a), .string("-inf")): return a == -.infinity
        case (.number(let a), _):
            guard let e = expected.doubleValue else { return false }
            return a == e && a.sign == e.sign
        default: return actual == expected
        }
    }
}

func hexString(_ bytes: UnsafeRawBufferPointer) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

@Suite("Safetensors reader")
struct SafetensorsReaderTests {
    /// Checks one opened file against what Python wrote.
    private func check(_ source: any TensorSource, _ file: String, expected: JSONValue) throws {
        let tensors = source.tensors.filter { $0.file == file }
        let want = try #require(expected["tensors"]?.arrayValue)
        #expect(tensors.map(\.name) == want.map { $0["name"]!.stringValue! }, "\(file): tensor order")
        for (tensor, w) in zip(tensors, want) {
            #expect(tensor.type.name == w["dtype"]!.stringValue!, "\(tensor.name)")
            #expect(tensor.shape == w["shape"]!.arrayValue!.map { $0.intValue! }, "\(tensor.name)")
            #expect(tensor.offset == w["offset"]!.intValue!, "\(tensor.name)")
            #expect(tensor.byteCount == w["nbytes"]!.intValue!, "\(tensor.name)")
            try source.withBytes(of: tensor) { bytes in
                #expect(hexString(bytes) == w["hex"]!.stringValue!, "\(file): \(tensor.name) bytes")
                if let values = w["values"]?.arrayValue, case .safetensors(let dtype) = tensor.type {
                    let decoded = try #require(ReferenceDecode.values(bytes, dtype))
                    #expect(decoded.count == values.count, "\(tensor.name)")
                    for (k, (a, e)) in zip(decoded, values).enumerated() {
                        #expect(ReferenceDecode.matches(a, e), "\(file): \(tensor.name)[\(k)]: \(a) != \(e)")
                    }
                }
            }
        }
    }

    @Test("every valid fixture reads with exactly the bytes and values Python stored",
          arguments: SafetensorsFixtures.validFiles)
    func validFixture(_ relative: String) throws {
        let path = SafetensorsFixtures.path(relative)
        let file = try SafetensorsFile(path: path)
        let expected = try #require(SafetensorsFixtures.expected[relative])
        try check(file, path, expected: expected)
        let meta = try #require(expected["metadata"]?.objectValue)
        #expect(file.metadata.count == meta.count)
        for (key, value) in meta {
            #expect(file.metadataValue(key) == .string(value.stringValue!), "metadata \(key)")
        }
        #expect(file.header.headerLength == expected["header_length"]!.intValue!)
        #expect(file.header.dataOffset == 8 + file.header.headerLength)
        #expect(file.format == .safetensors)
    }

    @Test func everyDTypeIsRepresented() throws {
        let file = try SafetensorsFile(path: SafetensorsFixtures.path("valid/all_dtypes.safetensors"))
        let unaligned = try SafetensorsFile(path: SafetensorsFixtures.path("valid/unaligned.safetensors"))
        let seen = Set((file.tensors + unaligned.tensors).map(\.type.name))
        for dtype in SafetensorsDType.allCases {
            #expect(seen.contains(dtype.name), "no fixture holds \(dtype.name)")
        }
        let scalar = try #require(unaligned.tensor(named: "f_scalar_f64"))
        #expect(scalar.shape == [] && scalar.byteCount == 8 && scalar.elementCount == 1)
        let f4 = try #require(file.tensor(named: "f4"))
        #expect(f4.shape == [2, 6] && f4.byteCount == 6)
        let f6 = try #require(unaligned.tensor(named: "c_f6_e2m3"))
        #expect(f6.shape == [4] && f6.byteCount == 3 && f6.offset % 2 == 1)
    }

    @Test("every hostile fixture is refused with the right error, naming the file and item",
          arguments: SafetensorsFixtures.hostileCases)
    func hostileFixture(_ name: String) throws {
        let entry = try #require(SafetensorsFixtures.manifest[name])
        let kind = try #require(FormatError.Kind(rawValue: entry["kind"]!.stringValue!))
        let path = SafetensorsFixtures.path("hostile/" + name)
        do {
            if name.hasSuffix("/") {
                _ = try SafetensorsCheckpoint(path: String(path.dropLast()))
            } else {
                _ = try SafetensorsFile(path: path)
            }
            Issue.record("\(name) was accepted")
        } catch let error as FormatError {
            #expect(error.kind == kind, "\(name): \(error)")
            #expect(error.file.hasPrefix(path.hasSuffix("/") ? String(path.dropLast()) : path), "\(name): \(error)")
            if let item = entry["item"]?.stringValue {
                #expect(error.item == item, "\(name): \(error)")
            }
            #expect(!error.reason.isEmpty)
        }
    }

    @Test func hostileCasesCoverTheRules() {
        // The manifest must exercise every error kind the safetensors reader can raise.
        let kinds = Set(SafetensorsFixtures.manifest.objectValue!.map { $0.value["kind"]!.stringValue! })
        for k in ["truncated", "limitExceeded", "badHeader", "badOffset", "badSize", "badShape", "overflow",
                  "unknownType", "duplicateName", "badMetadata", "missingFile", "missingTensor"] {
            #expect(kinds.contains(k), "no hostile fixture for \(k)")
        }
    }

    @Test func shardedCheckpointFromDirectoryAndIndex() throws {
        let dir = SafetensorsFixtures.path("sharded")
        for path in [dir, dir + "/", dir + "/model.safetensors.index.json"] {
            let ckpt = try SafetensorsCheckpoint(path: path)
            #expect(ckpt.shards.count == 2)
            #expect(ckpt.indexPath == dir + "/model.safetensors.index.json")
            #expect(ckpt.ignoredFiles == [dir + "/consolidated.safetensors"])
            #expect(ckpt.tensors.count == 4)
            #expect(ckpt.tensor(named: "tok_embeddings.weight") == nil)
            for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
                let expected = try #require(SafetensorsFixtures.expected["sharded/" + shard])
                try check(ckpt, dir + "/" + shard, expected: expected)
            }
            #expect(ckpt.tensor(named: "lm_head.weight")?.file == dir + "/model-00002-of-00002.safetensors")
            // The index's metadata first, then the shards' (identical in both shards: once).
            let index = try SafetensorsFixtures.json("sharded/model.safetensors.index.json")
            let total = try #require(index["metadata"]?["total_size"]?.intValue)
            #expect(ckpt.metadata.map(\.key) == ["total_size", "format"])
            #expect(ckpt.metadataValue("total_size")?.intValue == total)
            #expect(ckpt.tensors.reduce(0) { $0 + $1.byteCount } == total)
            #expect(ckpt.metadataValue("format") == .string("pt"))
        }
    }

    @Test func singleFileCheckpoint() throws {
        let dir = SafetensorsFixtures.path("single")
        let ckpt = try SafetensorsCheckpoint(path: dir)
        #expect(ckpt.indexPath == nil && ckpt.shards.count == 1 && ckpt.ignoredFiles.isEmpty)
        try check(ckpt, dir + "/model.safetensors", expected: SafetensorsFixtures.expected["single/model.safetensors"]!)
        let direct = try SafetensorsCheckpoint(path: dir + "/model.safetensors")
        #expect(direct.tensors == ckpt.tensors)
    }

    @Test func checkpointErrors() throws {
        #expect(throws: FormatError.self) { try SafetensorsCheckpoint(path: "/nonexistent/lowbit/dir") }
        // A directory without any safetensors file.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-st-empty-\(getpid())").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        do {
            _ = try SafetensorsCheckpoint(path: empty)
            Issue.record("empty directory accepted")
        } catch let error as FormatError {
            #expect(error.kind == .missingFile && error.file == empty)
        }
    }

    @Test func bytesAreZeroCopyAndForeignTensorsAreRefused() throws {
        let a = try SafetensorsFile(path: SafetensorsFixtures.path("valid/all_dtypes.safetensors"))
        let b = try SafetensorsFile(path: SafetensorsFixtures.path("valid/unaligned.safetensors"))
        let t = a.tensors[0]
        let p1 = try a.withBytes(of: t) { $0.baseAddress }
        let p2 = try a.withBytes(of: t) { $0.baseAddress }
        #expect(p1 == p2 && p1 != nil)
        #expect(throws: FormatError.self) { try b.withBytes(of: t) { _ in } }
        var forged = b.tensors[0]
        forged.byteCount = Int.max
        #expect(throws: FormatError.self) { try b.withBytes(of: forged) { _ in } }
        a.release(t)
        try a.withBytes(of: t) { #expect($0.count == t.byteCount) }
    }

    @Test func unusualButValidHeader() throws {
        let file = try SafetensorsFile(path: SafetensorsFixtures.path("valid/odd_header.safetensors"))
        #expect(file.tensors.map(\.name) == ["t/1"])
        #expect(file.metadata.first?.key == "kéy")
        #expect(file.metadata.first?.value == .string("v🦙\n"))
    }
}
