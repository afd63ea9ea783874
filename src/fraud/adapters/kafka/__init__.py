"""Apache Kafka adapters (confluent-kafka): the message bus, consumers and topic administration."""
