// Starts the Firestore emulator on the port given as the first argument; prints "ready".
const { FirestoreServer } = require("@firestore-emulator/server");
const server = new FirestoreServer();
server.start(Number(process.argv[2])).then(() => console.log("ready"));
process.on("SIGTERM", () => process.exit(0));
