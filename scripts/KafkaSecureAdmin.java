// Sets up the secured local broker through Kafka's Admin API in one JVM:
// SCRAM users, topics and ACLs. Run by `scripts/local-kafka` (start --secure,
// secure-admin) as a single-file program: java -cp '<kafka libs>/*' KafkaSecureAdmin.java <client.properties>
//
// Instructions come on stdin, one per line, so no password is ever on a
// command line (where `ps` shows it):
//   user <name> <password>                 create or update a SCRAM-SHA-512 credential
//   topic <name> <partitions>              create the topic unless it exists
//   allow <principal> <operation> <TOPIC|GROUP> <name>   add a literal ALLOW ACL
//   deny-all <principal>                   remove every ACL of the principal
// Blank lines and lines starting with # are ignored.

import java.io.BufferedReader;
import java.io.FileReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

public class KafkaSecureAdmin {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: KafkaSecureAdmin <client.properties> < instructions");
            System.exit(2);
        }
        Properties config = new Properties();
        try (FileReader reader = new FileReader(args[0])) {
            config.load(reader);
        }
        config.putIfAbsent("request.timeout.ms", "15000");
        config.putIfAbsent("default.api.timeout.ms", "30000");
        List<String[]> lines = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
            String line;
            while ((line = in.readLine()) != null) {
                line = line.trim();
                if (!line.isEmpty() && !line.startsWith("#")) {
                    lines.add(line.split("\\s+"));
                }
            }
        }
        try (Admin admin = Admin.create(config)) {
            for (String[] words : lines) {
                run(admin, words);
            }
        }
    }

    static void run(Admin admin, String[] words) throws Exception {
        switch (words[0] + "/" + words.length) {
            case "user/3" -> {
                ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192);
                admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(words[1], info, words[2])))
                        .all().get();
                System.err.println("user " + words[1] + ": SCRAM-SHA-512 credential set");
            }
            case "topic/3" -> {
                try {
                    admin.createTopics(List.of(new NewTopic(words[1], Integer.parseInt(words[2]), (short) 1))).all().get();
                    System.err.println("topic " + words[1] + ": created");
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
            case "allow/5" -> {
                ResourcePattern resource =
                        new ResourcePattern(ResourceType.fromString(words[3]), words[4], PatternType.LITERAL);
                AccessControlEntry entry = new AccessControlEntry(
                        words[1], "*", AclOperation.fromString(words[2]), AclPermissionType.ALLOW);
                admin.createAcls(List.of(new AclBinding(resource, entry))).all().get();
                System.err.println("acl: " + words[1] + " may " + words[2] + " " + words[3] + " " + words[4]);
            }
            case "deny-all/2" -> {
                AccessControlEntryFilter entry =
                        new AccessControlEntryFilter(words[1], null, AclOperation.ANY, AclPermissionType.ANY);
                admin.deleteAcls(List.of(new AclBindingFilter(ResourcePatternFilter.ANY, entry))).all().get();
            }
            default -> throw new IllegalArgumentException("unknown instruction: " + words[0] + " (" + words.length + " words)");
        }
    }
}
