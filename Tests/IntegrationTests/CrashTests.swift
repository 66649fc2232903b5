import Foundation
import TestFixtures
import Testing

/// `kill -9` at random moments and concurrent runs: afterwards every lineage's key
/// matches its certificate, and both certbot and acme read the directory.
@Suite("crash safety and concurrency", .serialized, .integration)
struct CrashTests {
    func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.acmeBinary)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test("kill -9 at random moments during renewals: key and certificate always match; the next run repairs")
    func killDuringRenewal() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("crash") + "/le"
        for name in ["c1.example.test", "c2.example.test"] {
            let issued = try run(TestSupport.acmeBinary, ["issue", "-d", name] + pebble.acmeArguments(configDir: dir))
            #expect(issued.status == 0, "\(issued.output)")
        }
        // Time one undisturbed run to spread the kills over its whole length.
        let began = Date()
        let timed = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
        #expect(timed.status == 0, "\(timed.output)")
        let span = max(Date().timeIntervalSince(began), 0.05)

        var generator = SystemRandomNumberGenerator()
        for round in 0..<20 {
            let process = try start(["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
            usleep(UInt32(Double.random(in: 0...span, using: &generator) * 1_000_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            for name in ["c1.example.test", "c2.example.test"] {
                #expect(try RenewTests.consistent(dir, name), "round \(round): \(name) has a key that does not match its certificate")
            }
        }
        // The next ordinary run puts everything right and renews nothing that is not due.
        let repaired = try run(TestSupport.acmeBinary, ["renew", "--no-random-sleep", "--config-dir", dir])
        #expect(repaired.status == 0, "\(repaired.output)")
        for sub in ["live", "renewal"] {
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/" + sub).filter { $0.hasPrefix(".") }
            #expect(leftovers.isEmpty, "left in \(sub)/: \(leftovers)")
        }
        for name in ["c1.example.test", "c2.example.test"] {
            #expect(try RenewTests.consistent(dir, name))
            // Every archived version is complete (nothing half-written survives the repair) and at most current+5 remain.
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/archive/\(name)")
            let versions = Dictionary(grouping: files.filter { !$0.hasPrefix(".acme-next") }, by: { $0.filter(\.isNumber) })
            #expect(versions.values.allSatisfy { $0.count == 4 }, "incomplete versions: \(versions)")
            #expect(versions.count <= 6, "not pruned: \(versions.keys.sorted())")
        }
        let listed = try certbot(["certificates"], pebble: pebble, configDir: dir)
        #expect(listed.status == 0 && listed.stdout.contains("Certificate Name: c1.example.test") && !listed.stdout.contains("INVALID"),
                "certbot cannot read the directory after the kills: \(listed.output)")
        let forced = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
        #expect(forced.status == 0, "acme cannot renew after the kills: \(forced.output)")
    }

    @Test("parallel runs on one config dir take turns: every renewal lands, none interleave")
    func parallelRuns() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("parallel") + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "p.example.test"] + pebble.acmeArguments(configDir: dir))
        #expect(issued.status == 0, "\(issued.output)")
        var processes: [Process] = []
        for _ in 0..<3 {
            processes.append(try start(["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir]))
        }
        processes.append(try start(["issue", "-d", "p.example.test", "--force-renewal"] + pebble.acmeArguments(configDir: dir)))
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        #expect(RenewTests.version(dir, "p.example.test") == 5, "four runs should give versions 2-5")
        #expect(try RenewTests.consistent(dir, "p.example.test"))
    }

    @Test("a run that holds the lock (certbot's lockf on .certbot.lock) makes acme wait, then it proceeds")
    func waitsForLock() throws {
        let pebble = try Pebble()
        let dir = try TestSupport.temporaryDirectory("lock") + "/le"
        let issued = try run(TestSupport.acmeBinary, ["issue", "-d", "w.example.test"] + pebble.acmeArguments(configDir: dir))
        #expect(issued.status == 0, "\(issued.output)")
        // The same call certbot's lock.py makes.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = ["-c", """
            import fcntl, os, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            print("locked", flush=True)
            time.sleep(1.5)
            """, dir + "/.certbot.lock"]
        let pipe = Pipe()
        holder.standardOutput = pipe
        try holder.run()
        _ = pipe.fileHandleForReading.readData(ofLength: 6)
        let began = Date()
        let result = try run(TestSupport.acmeBinary, ["renew", "--force-renewal", "--no-random-sleep", "--config-dir", dir])
        holder.waitUntilExit()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.contains("another acme or certbot run is using \(dir); waiting"), "\(result.output)")
        #expect(Date().timeIntervalSince(began) > 1.0, "acme did not wait for the lock")
        #expect(RenewTests.version(dir, "w.example.test") == 2)
    }
}
