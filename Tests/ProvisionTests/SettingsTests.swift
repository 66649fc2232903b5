import Base
import Testing
@testable import Provision

@Suite("settings from docker-mailserver's environment")
struct SettingsTests {
    @Test("docker-mailserver's variables become the settings; flags win over them")
    func environment() throws {
        let env = ["SSL_TYPE": "manual", "OVERRIDE_HOSTNAME": "mail.example.test", "SSL_DOMAIN": "*.example.test",
                   "SSL_CERT_PATH": "/certs/ec.pem", "SSL_KEY_PATH": "/certs/ec.key", "SSL_ALT_CERT_PATH": "/certs/rsa.pem",
                   "SSL_ALT_KEY_PATH": "/certs/rsa.key", "TLS_LEVEL": "intermediate"]
        let settings = try ProvisionSettings(ProvisionInputs(), environment: env, hostName: { "ignored.example.test" })
        #expect(settings.sslType == .manual)
        #expect(settings.fqdn == "mail.example.test")
        #expect(settings.sslDomain == "*.example.test")
        #expect(settings.lineageNames == ["example.test", "example.test-rsa", "mail.example.test", "mail.example.test-rsa"])
        #expect([settings.certPath, settings.keyPath, settings.altCertPath, settings.altKeyPath]
                == ["/certs/ec.pem", "/certs/ec.key", "/certs/rsa.pem", "/certs/rsa.key"])
        #expect(settings.tlsLevel == .intermediate)

        var flags = ProvisionInputs()
        flags.sslType = "letsencrypt"
        flags.hostname = "mx.example.test"
        flags.tlsLevel = "modern"
        flags.certPath = "relative.pem"
        let overridden = try ProvisionSettings(flags, environment: env)
        #expect(overridden.sslType == .letsencrypt && overridden.fqdn == "mx.example.test" && overridden.tlsLevel == .modern)
        #expect(overridden.certPath == LocalSystem.absolutePath("relative.pem") && overridden.certPath?.hasPrefix("/") == true)
    }

    @Test("empty SSL_TYPE is plaintext, as in docker-mailserver; the host name falls back to hostname -f")
    func defaults() throws {
        let settings = try ProvisionSettings(ProvisionInputs(), environment: ["SSL_TYPE": "", "TLS_LEVEL": ""],
                                             hostName: { "mail.example.test" })
        #expect(settings.sslType == .plaintext)
        #expect(settings.fqdn == "mail.example.test")
        #expect(settings.tlsLevel == .modern)
    }

    @Test("values provision does not know are usage errors naming the variable", arguments: [
        ["SSL_TYPE": "snakeoil", "OVERRIDE_HOSTNAME": "mail.example.test"],
        ["SSL_TYPE": "manual", "TLS_LEVEL": "ancient", "OVERRIDE_HOSTNAME": "mail.example.test"],
        ["SSL_TYPE": "letsencrypt", "OVERRIDE_HOSTNAME": "mail"],
    ])
    func invalid(env: [String: String]) {
        let error = #expect(throws: ProvisionError.self) { try ProvisionSettings(ProvisionInputs(), environment: env) }
        #expect(error?.code == .invalidSetting)
        #expect(error?.category == .usage)
    }
}
