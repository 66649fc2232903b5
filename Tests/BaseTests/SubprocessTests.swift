import Base
import Glibc
import Testing

@Suite("subprocess: what a hook or daemon command inherits")
struct SubprocessTests {
    @Test("a child gets stdin, stdout and stderr only, not a descriptor acme had open without O_CLOEXEC")
    func noInheritedDescriptors() async throws {
        // A file another thread has open for writing at the instant of the spawn, as a half-written
        // script or key would be: without O_CLOEXEC it used to outlive the exec into the child.
        let fd = open("/dev/null", O_WRONLY)
        try #require(fd > 2)
        defer { close(fd) }
        let result = await Subprocess().run(["/bin/sh", "-c", "for f in /proc/$$/fd/*; do echo ${f##*/}; done"])
        #expect(result.succeeded, "\(result.output)")
        let descriptors = Set(result.output.split(separator: "\n").compactMap { Int32($0) })
        #expect(descriptors.isSuperset(of: [0, 1, 2]), "\(descriptors)")
        #expect(!descriptors.contains(fd), "the child inherited descriptor \(fd): \(descriptors)")
    }
}
