// Waits until the cluster at args[0] has a controller quorum leader and args[1] brokers
// registered and unfenced, for at most args[2] seconds; prints who leads. Exit status 1 if not.
// cluster.sh runs it (java_tool ClusterReady 127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094 3 60).
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.QuorumInfo;

public class ClusterReady {
  public static void main(String[] args) throws Exception {
    int brokers = Integer.parseInt(args[1]);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[2]));
    Map<String, Object> config =
        Map.of(
            AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0],
            AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2000,
            AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 4000);
    String seen = "no answer";
    try (Admin admin = Admin.create(config)) {
      while (System.nanoTime() < deadline) {
        try {
          int registered = admin.describeCluster().nodes().get(4, TimeUnit.SECONDS).size();
          QuorumInfo quorum = admin.describeMetadataQuorum().quorumInfo().get(4, TimeUnit.SECONDS);
          seen =
              registered + " brokers, quorum leader " + quorum.leaderId() + " of "
                  + quorum.voters().size() + " voters";
          if (registered >= brokers && quorum.leaderId() >= 0) {
            System.out.println(seen);
            return;
          }
        } catch (Exception notYet) {
          seen = String.valueOf(notYet.getCause() != null ? notYet.getCause() : notYet);
        }
        Thread.sleep(250);
      }
    }
    System.err.println("the cluster is not ready: " + seen);
    System.exit(1);
  }
}
