import Foundation
import Testing

/// Debian's podman, as `.ci/container-setup` prepared it (a private configuration in
/// `.build-podman`, the image built from `Sample-configs/container/Dockerfile.prebuilt` around
/// this build's acme), in a private mount and network namespace of its own (`.ci/podman-ns
/// --private-network`) where a Pebble listens with its HTTP-01 port on 80: the containers use
/// that namespace's network (`--network host`), so their mail ports and Pebble's stay private
/// to the test. Every command of the test runs there through `nsenter`.
final class PodmanNamespace: @unchecked Sendable {
    /// The image under test (`localhost/acme-mail:test`).
    let image: String
    let workDir: String
    let pebbleDirectoryURL: String
    /// Pebble's own TLS certificate, also mounted into the containers at /pebble/pebble.pem.
    let pebbleTLS: String
    private let pebbleManagementPort: Int
    private let holder: pid_t
    /// A process inside the namespace, for nsenter.
    private let nsPID: String
    private let environment: [String: String]

    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// Fails loudly when podman was not set up or cannot start the namespace and Pebble.
    init() throws {
        let root = Self.repositoryRoot
        let state = ProcessInfo.processInfo.environment["ACME_PODMAN_DIR"] ?? root + "/.build-podman"
        guard let ready = try? String(contentsOfFile: state + "/ready", encoding: .utf8),
              !ready.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw TestFailure("podman is not set up for the container tests (no \(state)/ready): run bash .ci/container-setup "
                              + "(the README's test command does), and see its error")
        }
        // ACME_CONTAINER_IMAGE: another image to test, e.g. localhost/acme-mail:full (.ci/container-build-full).
        image = ProcessInfo.processInfo.environment["ACME_CONTAINER_IMAGE"] ?? ready.trimmingCharacters(in: .whitespacesAndNewlines)
        environment = ["CONTAINERS_CONF": state + "/containers.conf", "CONTAINERS_STORAGE_CONF": state + "/storage.conf"]
        workDir = try TestSupport.temporaryDirectory("podman")
        pebbleTLS = workDir + "/pebble/pebble.pem"
        // The namespace lives as long as this shell (`sleep` in the end), in a session of its own
        // so that stop() kills Pebble with it.
        let script = """
            . "$1/.ci/lib.sh"; PEBBLE_HTTP_PORT=80 start_pebble "$2/pebble"
            echo "$$ $PEBBLE_DIR_URL $PEBBLE_MGMT_PORT" > "$2/ns.tmp"; mv "$2/ns.tmp" "$2/ns"; exec sleep infinity
            """
        let work = workDir
        let holder = try spawnLogging("/usr/bin/setsid", ["bash", root + "/.ci/podman-ns", "--private-network", "bash", "-euo", "pipefail",
                                                      "-c", script, "podman-ns", root, work],
                                  log: work + "/namespace.log", append: false, environment: environment)
        var fields: [String] = []
        do {
            try waitUntil("the private namespace with Pebble is up (\(work)/namespace.log)", timeout: 90) {
                fields = ((try? String(contentsOfFile: work + "/ns", encoding: .utf8)) ?? "").split(separator: " ").map {
                    $0.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                if fields.count == 3 { return true }
                var status: Int32 = 0
                if waitpid(holder, &status, WNOHANG) == holder {
                    let log = (try? String(contentsOfFile: work + "/namespace.log", encoding: .utf8)) ?? ""
                    throw TestFailure("the private namespace for podman could not start: \(log.suffix(800))")
                }
                return false
            }
        } catch {
            kill(-holder, SIGKILL)
            throw error
        }
        self.holder = holder
        (nsPID, pebbleDirectoryURL, pebbleManagementPort) = (fields[0], fields[1], Int(fields[2]) ?? 0)
    }

    /// Runs a command inside the namespace (podman with this worktree's configuration).
    @discardableResult
    func run(_ command: [String], timeout: TimeInterval = 180) throws -> RunResult {
        try IntegrationTests.run("/usr/bin/nsenter", ["-t", nsPID, "-m", "-n", "--"] + command,
                                 environment: environment, timeout: timeout)
    }

    /// `podman ARGS` inside the namespace, throwing with its output when it fails.
    @discardableResult
    func podman(_ arguments: [String], timeout: TimeInterval = 180) throws -> RunResult {
        let result = try run(["podman"] + arguments, timeout: timeout)
        guard result.status == 0 else {
            throw TestFailure("podman \(arguments.joined(separator: " ")) failed (status \(result.status)): \(result.output.suffix(1500))")
        }
        return result
    }

    /// Runs a bash script with this worktree's podman on the host's network (for apt, which
    /// needs Debian's mirror), in a mount namespace of its own: not while a PodmanNamespace runs.
    static func onHostNetwork(_ script: String, timeout: TimeInterval = 300) throws -> RunResult {
        let state = ProcessInfo.processInfo.environment["ACME_PODMAN_DIR"] ?? repositoryRoot + "/.build-podman"
        return try IntegrationTests.run("/usr/bin/bash", [repositoryRoot + "/.ci/podman-ns", "bash", "-euo", "pipefail", "-c", script],
                                        environment: ["CONTAINERS_CONF": state + "/containers.conf",
                                                      "CONTAINERS_STORAGE_CONF": state + "/storage.conf"], timeout: timeout)
    }

    /// A new directory in the work directory, for a volume.
    func directory(_ name: String) throws -> String {
        let path = workDir + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Pebble's root certificate (a new one per run), written to a file for `acme check --ca-file`.
    func pebbleRootFile() throws -> String {
        let path = workDir + "/pebble-root.pem"
        let root = try run(["curl", "-sf", "--cacert", pebbleTLS, "https://127.0.0.1:\(pebbleManagementPort)/roots/0"])
        guard root.status == 0, root.stdout.contains("BEGIN CERTIFICATE") else {
            throw TestFailure("could not fetch Pebble's root from its management port: \(root.output)")
        }
        try root.stdout.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// How many certificates Pebble has issued so far (one log line each).
    func issuedCount() -> Int {
        let log = (try? String(contentsOfFile: workDir + "/pebble/pebble.log", encoding: .utf8)) ?? ""
        return log.components(separatedBy: "Issued certificate serial").count - 1
    }

    /// The prefix of the podman volumes the test's containers create (compose's named volumes).
    var volumePrefix: String { "acme-test-" + nsPID }

    /// Removes every container of the namespace and the volumes of this test, then ends the
    /// namespace (Pebble with it).
    func stop() {
        _ = try? run(["podman", "rm", "--force", "--all", "--time", "0"], timeout: 60)
        if let volumes = try? run(["podman", "volume", "ls", "--quiet", "--filter", "name=" + volumePrefix]) {
            let names = volumes.stdout.split(separator: "\n").map(String.init)
            if !names.isEmpty { _ = try? run(["podman", "volume", "rm", "--force"] + names, timeout: 60) }
        }
        kill(-holder, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(holder, &status, 0)
    }
}
