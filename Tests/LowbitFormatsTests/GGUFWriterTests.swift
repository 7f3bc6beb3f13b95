import Foundation
import LowbitFormats
import Testing
import LowbitTestSupport

/// Rewrites `source` with GGUFWriter, streaming each tensor in pieces of `chunk` bytes.
func rewrite(_ source: GGUFFile, to path: String, chunk: Int = 4096) throws {
    let plan = source.tensors.map { PlannedTensor(name: $0.name, type: $0.type, shape: $0.shape) }
    let writer = try GGUFWriter(path: path, metadata: source.metadata, tensors: plan, alignment: source.alignment)
    for t in source.tensors {
        try source.withBytes(of: t) { bytes in
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + chunk)
                try writer.append(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                start = end
            }
        }
    }
    try writer.finish()
}

@Suite struct GGUFWriterTests {
    static let metadata: [(key: String, value: MetadataValue)] = [
        ("general.architecture", .string("llama")),
        ("u8", .uint8(200)), ("i8", .int8(-5)), ("u16", .uint16(60000)), ("i16", .int16(-300)),
        ("u32", .uint32(.max)), ("i32", .int32(.min)), ("u64", .uint64(.max)), ("i64", .int64(.min)),
        ("f32.nan", .float32(.nan)), ("f32.neg0", .float32(-0.0)), ("f64.inf", .float64(-.infinity)),
        ("bool", .bool(true)), ("string.empty", .string("")), ("string", .string("Grüße 🦙")),
        ("array.empty", .array(.uint32, [])),
        ("array.strings", .array(.string, [.string("a"), .string("")])),
        ("array.nested", .array(.array, [.array(.float64, [.float64(1.5)]), .array(.int8, [])])),
    ]

    static let plan: [PlannedTensor] = [
        PlannedTensor(name: "a", type: .ggml(.f32), shape: [5, 3]),
        PlannedTensor(name: "empty", type: .ggml(.f16), shape: [4, 0]),
        PlannedTensor(name: "q", type: .ggml(.q8_0), shape: [64, 2]),
        PlannedTensor(name: "k", type: .ggml(.q4_K), shape: [256]),
        PlannedTensor(name: "scalar", type: .ggml(.i32), shape: []),
        PlannedTensor(name: "b", type: .ggml(.bf16), shape: [3, 1, 1, 2]),
    ]

    static func data(for plan: [PlannedTensor]) -> [[UInt8]] {
        var generator = LCG64(seed: 0x9E37_79B9_7F4A_7C15)
        return plan.map { t in
            (0..<(t.byteCount ?? 0)).map { _ in UInt8(truncatingIfNeeded: generator.nextHigh31()) }
        }
    }

    @Test(arguments: [32, 64, 1])
    func roundTrip(alignment: Int) throws {
        let dir = try GGUFScratchDirectory("roundtrip")
        let path = dir.file("out.gguf")
        let data = Self.data(for: Self.plan)
        let writer = try GGUFWriter(path: path, metadata: Self.metadata, tensors: Self.plan, alignment: alignment)
        // Pieces of 7 bytes split tensors anywhere and straddle tensor boundaries.
        let all = data.flatMap { $0 }
        for start in stride(from: 0, to: all.count, by: 7) {
            try writer.append(Array(all[start..<min(all.count, start + 7)]))
        }
        try writer.finish()
        #expect(dir.contents == ["out.gguf"])

        let file = try GGUFFile(path: path)
        #expect(file.version == 3)
        #expect(file.alignment == alignment)
        #expect(file.fileSize == writer.fileSize)
        var expectedMetadata = Self.metadata
        if alignment != 32 { expectedMetadata.append(("general.alignment", .uint32(UInt32(alignment)))) }
        #expect(file.metadata.map(\.key) == expectedMetadata.map(\.key))
        for (a, b) in zip(file.metadata, expectedMetadata) {
            #expect(identical(a.value, b.value), "\(a.key)")
        }
        #expect(file.tensors.map(\.name) == Self.plan.map(\.name))
        #expect(file.tensors.map(\.shape) == Self.plan.map(\.shape))
        #expect(file.tensors.map(\.type) == Self.plan.map(\.type))
        #expect(file.tensors.map(\.offset) == writer.tensorOffsets)
        for (t, bytes) in zip(file.tensors, data) {
            #expect(t.offset % alignment == 0)
            #expect(try file.withBytes(of: t) { Array($0) } == bytes, "\(t.name)")
        }
    }

    /// Lowbit rewrites each gguf-py fixture byte for byte (the v2 file becomes v3).
    @Test(arguments: GGUFFixtures.validNames)
    func rewritesFixturesIdentically(_ name: String) throws {
        let source = try GGUFFile(path: GGUFFixtures.validPath(name))
        let dir = try GGUFScratchDirectory("rewrite")
        try rewrite(source, to: dir.file(name), chunk: 5)
        var original = try Array(Data(contentsOf: URL(fileURLWithPath: source.path)))
        let written = try Array(Data(contentsOf: URL(fileURLWithPath: dir.file(name))))
        if source.version == 2 { original[4] = 3 }
        #expect(written == original)
    }

    @Test func droppedWriterLeavesNothing() throws {
        let dir = try GGUFScratchDirectory("atomic")
        let path = dir.file("out.gguf")
        do {
            let writer = try GGUFWriter(path: path, metadata: Self.metadata, tensors: Self.plan)
            try writer.append([1, 2, 3])
            #expect(dir.contents.count == 1)  // only the temporary file
            #expect(!FileManager.default.fileExists(atPath: path))
        }
        #expect(dir.contents.isEmpty)
    }

    @Test func tooFewOrTooManyBytes() throws {
        let dir = try GGUFScratchDirectory("counts")
        let path = dir.file("out.gguf")
        let total = Self.plan.compactMap(\.byteCount).reduce(0, +)
        do {
            let writer = try GGUFWriter(path: path, metadata: [], tensors: Self.plan)
            try writer.append([UInt8](repeating: 0, count: total - 1))
            let e = try #require(formatError { try writer.finish() })
            #expect(e.kind == .badSize)
            #expect(e.item == "b")
        }
        do {
            let writer = try GGUFWriter(path: path, metadata: [], tensors: Self.plan)
            let e = try #require(formatError { try writer.append([UInt8](repeating: 0, count: total + 1)) })
            #expect(e.kind == .badSize)
        }
        #expect(dir.contents.isEmpty)
    }

    @Test func badPlansAreRefused() throws {
        let dir = try GGUFScratchDirectory("plans")
        let path = dir.file("out.gguf")
        func kind(_ metadata: [(key: String, value: MetadataValue)] = [], _ plan: [PlannedTensor] = [],
                  alignment: Int = 32) -> FormatError.Kind? {
            formatError { _ = try GGUFWriter(path: path, metadata: metadata, tensors: plan, alignment: alignment) }?.kind
        }
        let t = PlannedTensor(name: "t", type: .ggml(.f32), shape: [4])
        #expect(kind([], [t, t]) == .duplicateName)
        #expect(kind([("k", .uint8(1)), ("k", .uint8(2))]) == .duplicateName)
        #expect(kind([("", .uint8(1))]) == .badMetadata)
        #expect(kind([("a", .array(.uint8, [.int8(1)]))]) == .badMetadata)
        #expect(kind([], [PlannedTensor(name: "q", type: .ggml(.q4_0), shape: [48])]) == .badShape)
        #expect(kind([], [PlannedTensor(name: "q", type: .ggml(.f32), shape: [1, 1, 1, 1, 1])]) == .badShape)
        #expect(kind([], [PlannedTensor(name: "q", type: .ggml(.f32), shape: [-1])]) == .badShape)
        #expect(kind([], [PlannedTensor(name: "q", type: .ggml(.f32), shape: [1 << 40, 1 << 40])]) == .overflow)
        #expect(kind([], [PlannedTensor(name: "s", type: .safetensors(.BF16), shape: [4])]) == .unknownType)
        #expect(kind([], [PlannedTensor(name: "", type: .ggml(.f32), shape: [4])]) == .badHeader)
        #expect(kind(alignment: 48) == .badAlignment)
        #expect(kind(alignment: 0) == .badAlignment)
        #expect(kind([("general.alignment", .uint32(64))], alignment: 32) == .badAlignment)
        #expect(kind([("general.alignment", .uint64(32))]) == .badMetadata)
        #expect(dir.contents.isEmpty)
    }

    @Test func existingAlignmentKeyIsKeptNotDuplicated() throws {
        let dir = try GGUFScratchDirectory("alignkey")
        let path = dir.file("out.gguf")
        let writer = try GGUFWriter(path: path, metadata: [("general.alignment", .uint32(128)), ("x", .bool(false))],
                                    tensors: [], alignment: 128)
        try writer.finish()
        let file = try GGUFFile(path: path)
        #expect(file.metadata.map(\.key) == ["general.alignment", "x"])
        #expect(file.alignment == 128)
        #expect(file.tensors.isEmpty)
    }
}
