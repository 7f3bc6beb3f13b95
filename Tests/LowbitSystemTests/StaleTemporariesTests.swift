import Foundation
import Testing
@testable import LowbitSystem

/// A scratch directory removed when the test ends.
final class ScratchDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "lowbit-system-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    func touch(_ name: String) { FileManager.default.createFile(atPath: path + "/" + name, contents: Data("x".utf8)) }
}

@Suite struct StaleTemporariesTests {
    @Test func temporaryNamesFollowTheTwoPatterns() {
        let pid = getpid()
        let file = StaleTemporaries.temporaryFilePath(for: "/a/b/out.gguf")
        #expect(file.hasPrefix("/a/b/.out.gguf.lowbit-\(pid)-") && file.hasSuffix(".tmp"))
        #expect(StaleTemporaries.temporaryDirectoryPath(for: "/a/b/out-dir/") == "/a/b/.out-dir.lowbit-\(pid).tmp")
        #expect(StaleTemporaries.temporaryDirectoryPath(for: "out") == "./.out.lowbit-\(pid).tmp")
    }

    @Test func findsBothPatternsAndNothingElse() throws {
        let dir = try ScratchDirectory()
        dir.touch(".out.gguf.lowbit-123-456.tmp")
        try FileManager.default.createDirectory(atPath: dir.path + "/.out.gguf.lowbit-77.tmp", withIntermediateDirectories: false)
        for lookalike in [".out.gguf.lowbit-.tmp", ".out.gguf.lowbit-12a.tmp", ".out.gguf.lowbit-1-2-3.tmp",
                          ".other.gguf.lowbit-1-2.tmp", "out.gguf.lowbit-1-2.tmp", ".out.gguf.lowbit-1-2.tmpx",
                          ".out.gguf.lowbit--2.tmp"] {
            dir.touch(lookalike)
        }
        let found = StaleTemporaries.find(for: dir.path + "/out.gguf")
        #expect(found.map { ($0.path as NSString).lastPathComponent } == [".out.gguf.lowbit-123-456.tmp", ".out.gguf.lowbit-77.tmp"])
        #expect(found.map(\.processID) == [123, 77])
        #expect(found.map(\.isDirectory) == [false, true])
    }

    @Test func removesStaleOnesAndNeverALockedOne() throws {
        let dir = try ScratchDirectory()
        let live = dir.path + "/.out.lowbit-1-1.tmp"
        dir.touch(".out.lowbit-1-1.tmp")
        dir.touch(".out.lowbit-2-2.tmp")
        let staleDir = dir.path + "/.out.lowbit-3.tmp"
        try FileManager.default.createDirectory(atPath: staleDir, withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: staleDir + "/model-00001-of-00002.safetensors", contents: Data(count: 10))
        var notes: [String] = []
        do {
            let lock = try #require(FileLock(path: live))
            let removed = StaleTemporaries.removeStale(for: dir.path + "/out") { notes.append($0) }
            #expect(removed.count == 2)
            #expect(dir.names() == [".out.lowbit-1-1.tmp"])
            #expect(notes.count == 2 && notes.allSatisfy { $0.contains("did not finish") })
            // While held, nobody else can take it.
            #expect(FileLock(path: live) == nil)
            withExtendedLifetime(lock) {}
        }
        // Released (as when its process dies): now it is stale.
        StaleTemporaries.removeStale(for: dir.path + "/out") { _ in }
        #expect(dir.names().isEmpty)
    }

    @Test func keepsTheOneBeingResumed() throws {
        let dir = try ScratchDirectory()
        dir.touch(".out.lowbit-9-9.tmp")
        StaleTemporaries.removeStale(for: dir.path + "/out", except: dir.path + "/.out.lowbit-9-9.tmp") { _ in }
        #expect(dir.names() == [".out.lowbit-9-9.tmp"])
    }
}

@Suite struct TemporaryOutputsTests {
    @Test func removeAllDeletesFilesAndDirectoriesAndNamesOuterOutputs() throws {
        let dir = try ScratchDirectory()
        let registry = TemporaryOutputs()
        let outer = dir.path + "/.o.lowbit-1.tmp"
        try FileManager.default.createDirectory(atPath: outer, withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: outer + "/.a.lowbit-1-2.tmp", contents: Data(count: 3))
        dir.touch(".f.lowbit-1-3.tmp")
        _ = registry.register(temporary: outer, final: dir.path + "/o")
        _ = registry.register(temporary: outer + "/.a.lowbit-1-2.tmp", final: outer + "/a")
        _ = registry.register(temporary: dir.path + "/.f.lowbit-1-3.tmp", final: dir.path + "/f")
        let abandoned = registry.removeAll()
        #expect(abandoned == [dir.path + "/o", dir.path + "/f"])
        #expect(dir.names().isEmpty)
        #expect(registry.current.isEmpty)
    }

    @Test func publishRunsTheRenameAndUnregisters() throws {
        let registry = TemporaryOutputs()
        let id = registry.register(temporary: "/nonexistent/t", final: "/nonexistent/f")
        var ran = false
        registry.publish(id) { ran = true }
        #expect(ran && registry.current.isEmpty)
    }
}

@Suite struct FreeSpaceTests {
    @Test func refusesWhatCannotFitAndNamesBothSizes() throws {
        let dir = try ScratchDirectory()
        let available = try #require(FreeSpace.available(at: dir.path))
        #expect(available > 0)
        try FreeSpace.check(bytes: 1, into: dir.path, output: "out.gguf")
        #expect(throws: NotEnoughSpace.self) { try FreeSpace.check(bytes: Int.max, into: dir.path, output: "out.gguf") }
        let error = NotEnoughSpace(output: "out.gguf", directory: "/d", needed: 3_200_000_000, available: 1_100_000_000)
        #expect(error.description.contains("3.2 GB (3200000000 bytes)") && error.description.contains("1.1 GB"))
        #expect(error.description.contains("--force") && error.description.hasPrefix("out.gguf: "))
    }
}

@Suite struct InterruptionTests {
    @Test func exitStatusesAre128PlusTheSignal() {
        #expect(Interruption.exitStatus(for: SIGINT) == 130)
        #expect(Interruption.exitStatus(for: SIGTERM) == 143)
        #expect(Interruption.exitStatus(for: SIGHUP) == 129)
        #expect(Interruption.exitStatus(for: SIGBUS) == 1)
    }

    @Test func mappedRegionsNameTheFileOfAnAddress() {
        let regions = MappedRegions()
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        regions.add(start: buffer, count: 4096, path: "/models/a.gguf")
        let inside = regions.locate(UInt(bitPattern: buffer) + 100)
        #expect(inside?.path == "/models/a.gguf" && inside?.offset == 100)
        #expect(regions.locate(UInt(bitPattern: buffer) + 4096) == nil)
        regions.remove(start: buffer)
        #expect(regions.locate(UInt(bitPattern: buffer) + 100) == nil)
    }
}
