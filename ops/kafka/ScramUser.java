// Creates (or resets) the SCRAM-SHA-512 user KAFKA_SASL_USER with KAFKA_SASL_PASSWORD on the
// broker at args[0], for storage formatted before kafka.sh was asked for a SASL listener.
// kafka.sh runs it (java_tool ScramUser 127.0.0.1:9092).
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

public class ScramUser {
  public static void main(String[] args) throws Exception {
    String user = System.getenv("KAFKA_SASL_USER");
    String password = System.getenv("KAFKA_SASL_PASSWORD");
    Map<String, Object> config = Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    try (Admin admin = Admin.create(config)) {
      ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192);
      admin
          .alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(user, info, password)))
          .all()
          .get();
    }
    System.out.println("SCRAM-SHA-512 credentials set for " + user);
  }
}
