// DQSSRun: the library a Swift program calls — data sources, training and evaluation loops, the one PTQ
// search pipeline (SearchPipeline) with its classification and SR tasks, the QAT run, checkpoint sessions
// and the reports.
//
// Re-exported because the reports hand out the document types (AssignmentDocument, AssignmentLayer) and
// their JSON helpers (`jsonString()`, `writeJSON(to:)`): a user of DQSSRun needs no second import.
@_exported import DQSSFormats
