import Foundation
import LowbitFormats
import Testing

@Suite("Safetensors writer")
struct SafetensorsWriterTests {
    /// A fresh empty directory for one test.
    private func scratchDirectory(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("lowbit-st-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    private func listing(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    }

    @Test func roundTripsEveryFixtureTensor() throws {
        let dir = try scratchDirectory("roundtrip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try SafetensorsFile(path: SafetensorsFixtures.path("valid/all_dtypes.safetensors"))
        let extra = try SafetensorsFile(path: SafetensorsFixtures.path("valid/unaligned.safetensors"))
        let inputs: [(any TensorSource, TensorInfo)] = source.tensors.map { (source, $0) } + extra.tensors.map { (extra, $0) }
        let plan = inputs.map { PlannedTensor(name: $0.1.name, type: $0.1.type, shape: $0.1.shape) }
        let metadata: [(key: String, value: String)] = [("format", "pt"), ("quote\"key", "line\nbreak 🦙")]
        let out = dir + "/out.safetensors"
        let writer = try SafetensorsWriter(path: out, tensors: plan, metadata: metadata)
        #expect(try listing(dir).count == 1 && !FileManager.default.fileExists(atPath: out))
        // Feed the data in awkward pieces that split tensors anywhere.
        var all: [UInt8] = []
        for (src, t) in inputs { try src.withBytes(of: t) { all.append(contentsOf: $0) } }
        var position = 0
        var piece = 1
        while position < all.count {
            let n = min(piece, all.count - position)
            try all[position..<(position + n)].withUnsafeBytes { try writer.append($0) }
            position += n
            piece = piece * 3 % 97 + 1
        }
        try writer.finish()
        #expect(try listing(dir) == ["out.safetensors"])

        let back = try SafetensorsFile(path: out)
        #expect((8 + back.header.headerLength) % 8 == 0)
        #expect(back.tensors.map(\.name) == plan.map(\.name))
        #expect(back.tensors == writer.tensors)
        #expect(back.metadata.map(\.key) == metadata.map(\.key))
        #expect(back.metadata.map(\.value) == metadata.map { .string($0.value) })
        for ((src, t), u) in zip(inputs, back.tensors) {
            #expect(u.type == t.type && u.shape == t.shape && u.byteCount == t.byteCount)
            let a = try src.withBytes(of: t) { [UInt8]($0) }
            let b = try back.withBytes(of: u) { [UInt8]($0) }
            #expect(a == b, "\(t.name)")
        }
    }

    @Test func emptyPlanAndGGMLTypes() throws {
        let dir = try scratchDirectory("empty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let empty = try SafetensorsWriter(path: dir + "/e.safetensors", tensors: [])
        try empty.finish()
        let e = try SafetensorsFile(path: dir + "/e.safetensors")
        #expect(e.tensors.isEmpty && e.metadata.isEmpty && e.fileSize == 16)

        let w = try SafetensorsWriter(path: dir + "/g.safetensors", tensors: [
            PlannedTensor(name: "x", type: .ggml(.bf16), shape: [2]),
            PlannedTensor(name: "z", type: .ggml(.f32), shape: [0, 5]),
        ])
        try w.append([0x80, 0x3F, 0x00, 0x40])
        #expect(w.currentTensor == nil)
        try w.finish()
        let g = try SafetensorsFile(path: dir + "/g.safetensors")
        #expect(g.tensors.map(\.type) == [.safetensors(.BF16), .safetensors(.F32)])
        #expect(g.tensors[1].shape == [0, 5])
    }

    @Test func refusesBadPlans() throws {
        let dir = try scratchDirectory("badplans")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/x.safetensors"
        let bad: [([PlannedTensor], [(key: String, value: String)], FormatError.Kind)] = [
            ([.init(name: "a", type: .safetensors(.F32), shape: [1]), .init(name: "a", type: .safetensors(.F32), shape: [1])],
             [], .duplicateName),
            ([.init(name: "__metadata__", type: .safetensors(.F32), shape: [1])], [], .badHeader),
            ([.init(name: "q", type: .ggml(.q4_0), shape: [32])], [], .unknownType),
            ([.init(name: "n", type: .safetensors(.F32), shape: [-1])], [], .badShape),
            ([.init(name: "o", type: .safetensors(.F32), shape: [1 << 40, 1 << 40])], [], .overflow),
            ([.init(name: "f4", type: .safetensors(.F4), shape: [3])], [], .badSize),
            ([.init(name: "b", type: .safetensors(.F64), shape: [1 << 61])], [], .badSize),
            ([], [("k", "1"), ("k", "2")], .duplicateName),
        ]
        for (plan, meta, kind) in bad {
            do {
                _ = try SafetensorsWriter(path: path, tensors: plan, metadata: meta)
                Issue.record("accepted \(plan)")
            } catch let error as FormatError {
                #expect(error.kind == kind, "\(error)")
                #expect(error.file == path)
            }
        }
        #expect(try listing(dir).isEmpty)
    }

    @Test func tooManyOrTooFewBytes() throws {
        let dir = try scratchDirectory("counts")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/x.safetensors"
        let plan = [PlannedTensor(name: "a", type: .safetensors(.U8), shape: [3]),
                    PlannedTensor(name: "b", type: .safetensors(.U8), shape: [2])]
        do {
            let w = try SafetensorsWriter(path: path, tensors: plan)
            try w.append([1, 2, 3, 4])
            #expect(w.currentTensor?.name == "b")
            #expect(throws: FormatError.self) { try w.append([5, 6]) }
            #expect(w.dataBytesWritten == 4)
            do {
                try w.finish()
                Issue.record("finish with missing bytes succeeded")
            } catch let error as FormatError {
                #expect(error.kind == .badSize && error.item == "b")
            }
            #expect(!FileManager.default.fileExists(atPath: path))
            try w.append([5])
            try w.finish()
            #expect(throws: FormatError.self) { try w.finish() }
            #expect(throws: FormatError.self) { try w.append([1]) }
        }
        let f = try SafetensorsFile(path: path)
        #expect(try f.withBytes(of: f.tensors[1]) { [UInt8]($0) } == [4, 5])
        #expect(try listing(dir) == ["x.safetensors"])
    }

    @Test func droppedWriterLeavesNothing() throws {
        let dir = try scratchDirectory("atomic")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.safetensors"
        do {
            let w = try SafetensorsWriter(path: path, tensors: [PlannedTensor(name: "a", type: .safetensors(.F32), shape: [1 << 18])])
            try w.append([UInt8](repeating: 7, count: 3 << 18))  // most of the data, beyond the buffer
            #expect(try listing(dir).count == 1)  // only the temporary file
            #expect(!FileManager.default.fileExists(atPath: path))
        }
        #expect(try listing(dir).isEmpty)

        // An existing file under the final name is untouched until finish() replaces it.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        do {
            let w = try SafetensorsWriter(path: path, tensors: [PlannedTensor(name: "a", type: .safetensors(.U8), shape: [1])])
            try w.append([9])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([1, 2, 3]))
        }
        #expect(try listing(dir) == ["model.safetensors"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([1, 2, 3]))
    }

    @Test func writerOutputIsByteIdenticalToReferenceLayout() throws {
        // The header is compact JSON: __metadata__ first, tensors in plan order, space padding.
        let dir = try scratchDirectory("layout")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/l.safetensors"
        let w = try SafetensorsWriter(path: path, tensors: [PlannedTensor(name: "w", type: .safetensors(.BF16), shape: [2, 1])],
                                      metadata: [("format", "pt")])
        try w.append([0, 0, 0x80, 0x3F])
        try w.finish()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]}}"#
        let padded = header + String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        var expected = withUnsafeBytes(of: UInt64(padded.utf8.count).littleEndian) { [UInt8]($0) }
        expected += Array(padded.utf8) + [0, 0, 0x80, 0x3F]
        #expect(bytes == expected)
    }
}
