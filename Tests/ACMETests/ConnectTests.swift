@testable import ACME
import ACMEHTTP
import Synchronization
import Testing

@Suite("ACMEClient.connect with an injected transport")
struct ConnectTests {
    @Test("the client talks through the transport its caller builds, for the server it was given")
    func injectedTransport() async throws {
        let scripted = ScriptedServer { request, _ in
            request.url == ScriptedServer.base + "/dir" ? ScriptedServer.json(200, ScriptedServer.directoryJSON) : ScriptedServer.json(404, "{}")
        }
        let asked = Mutex<[CAServer]>([])
        let ca = CAServer(directoryURL: ScriptedServer.base + "/dir", caBundle: "/etc/private-ca.pem")
        let client = try ACMEClient.connect(ca, transport: { server in
            asked.withLock { $0.append(server) }
            return scripted
        })
        let directory = try await client.directory()
        #expect(directory.newOrder == ScriptedServer.base + "/order")
        #expect(scripted.seen.map(\.url) == [ScriptedServer.base + "/dir"])
        #expect(asked.withLock { $0 } == [ca])
    }

    @Test("an http:// directory is refused before any transport is built")
    func httpsOnly() throws {
        let built = Mutex(0)
        let error = #expect(throws: ACMEError.self) {
            try ACMEClient.connect(CAServer(directoryURL: "http://ca.test/dir"), transport: { _ in
                built.withLock { $0 += 1 }
                return ScriptedServer { _, _ in ScriptedServer.json(200, "{}") }
            })
        }
        #expect(error?.code == .insecureServer)
        #expect(built.withLock { $0 } == 0)
    }
}
