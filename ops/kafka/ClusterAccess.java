// Who may do what on the cluster at args[0], set through its PLAINTEXT listener (whose
// ANONYMOUS principal is a super user) in one Admin session, so that cluster.sh pays one JVM
// start for all of it. Idempotent: every `cluster.sh up` runs it, and `cluster.sh acls` again
// for another topic prefix.
//  - SCRAM-SHA-512 credentials for the service, KAFKA_SASL_USER / KAFKA_SASL_PASSWORD, and for
//    a client, KAFKA_CLIENT_USER / KAFKA_CLIENT_PASSWORD (set each time: a changed password
//    takes effect on the storage of an earlier start).
//  - For each topic prefix in args[1..] ("" for none), exact (LITERAL) topic names: the service
//    may create, describe, read and write every pipeline topic; the client may write (and
//    describe) PREFIX + transactions, nothing else. A PREFIXED pattern matches a name's start,
//    so it could not tell `transactions` from the internal topics under the same prefix.
//  - The service may use any consumer group: its groups are named by `fraud worker --group`
//    and its client id, not by the topic prefix, and a group alone opens no topic.
// No transactional ids: the pipeline's producers are idempotent, not transactional (an
// idempotent producer needs WRITE on some topic, which both principals have).
// cluster.sh runs it (java_tool ClusterAccess 127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094 "").
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class ClusterAccess {
  // The pipeline's topics (fraud.domain.ports.messaging.Topic): clients write the first, the
  // service alone writes the others (anyone who could write them would change every worker's
  // features or verdicts).
  static final String TRANSACTIONS = "transactions";
  static final List<String> INTERNAL =
      List.of(
          "preprocessed-transactions",
          "fraud-results",
          "fraud-dlq",
          "fraud-labels",
          "behaviour-state",
          "merchant-counts");
  // `fraud topics create` creates them and reads their configs back; the stages read and write.
  static final List<AclOperation> SERVICE_TOPIC =
      List.of(
          AclOperation.CREATE,
          AclOperation.DESCRIBE,
          AclOperation.DESCRIBE_CONFIGS,
          AclOperation.READ,
          AclOperation.WRITE);
  static final List<AclOperation> SERVICE_GROUP = List.of(AclOperation.READ, AclOperation.DESCRIBE);
  static final List<AclOperation> CLIENT_TOPIC = List.of(AclOperation.WRITE, AclOperation.DESCRIBE);

  public static void main(String[] args) throws Exception {
    String service = required("KAFKA_SASL_USER");
    String client = required("KAFKA_CLIENT_USER");
    if (service.equals(client)) {
      fail("KAFKA_CLIENT_USER must differ from KAFKA_SASL_USER (" + service + ")");
    }
    List<String> prefixes = List.of(args).subList(1, args.length);
    List<AclBinding> acls = new ArrayList<>();
    for (String prefix : prefixes) {
      for (String topic : topics()) {
        for (AclOperation operation : SERVICE_TOPIC) {
          acls.add(allow(service, ResourceType.TOPIC, prefix + topic, operation));
        }
      }
      for (AclOperation operation : CLIENT_TOPIC) {
        acls.add(allow(client, ResourceType.TOPIC, prefix + TRANSACTIONS, operation));
      }
    }
    for (AclOperation operation : SERVICE_GROUP) {
      acls.add(allow(service, ResourceType.GROUP, ResourcePattern.WILDCARD_RESOURCE, operation));
    }
    ScramCredentialInfo scram = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192);
    Map<String, Object> config = Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    try (Admin admin = Admin.create(config)) {
      admin
          .alterUserScramCredentials(
              List.of(
                  new UserScramCredentialUpsertion(service, scram, required("KAFKA_SASL_PASSWORD")),
                  new UserScramCredentialUpsertion(
                      client, scram, required("KAFKA_CLIENT_PASSWORD"))))
          .all()
          .get();
      admin.createAcls(acls).all().get();
    }
    System.out.println(
        "service " + service + " and client " + client + " granted under topic prefixes "
            + prefixes.stream().map(p -> "'" + p + "'").toList());
  }

  static List<String> topics() {
    List<String> all = new ArrayList<>(INTERNAL);
    all.add(0, TRANSACTIONS);
    return all;
  }

  static AclBinding allow(String user, ResourceType type, String name, AclOperation operation) {
    return new AclBinding(
        new ResourcePattern(type, name, PatternType.LITERAL),
        new AccessControlEntry("User:" + user, "*", operation, AclPermissionType.ALLOW));
  }

  static String required(String variable) {
    String value = System.getenv(variable);
    if (value == null || value.isEmpty()) {
      fail(variable + " is not set");
    }
    return value;
  }

  static void fail(String message) {
    System.err.println(message);
    System.exit(2);
  }
}
